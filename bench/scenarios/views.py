"""Views under load: responses at 30 tokens/s that each ask for two views, read on the raw
stream and on a view, beside the same load without views; and
every built-in transform's CPU per raw token, measured in this process on the demo answer."""

from __future__ import annotations

import copy
import time
from typing import Any

from bench.context import Context
from bench.scenarios import load

# Two views per response. A response that asks for `moderated` is served only through that view
# (app/edge/withhold.py), so its raw stream is measured on responses asking for two others.
TEXT_VIEWS = ("sentences", "plain")
MODERATED_VIEWS = ("moderated", "sentences")
# Rules of a realistic size that the demo answer never matches (its text must arrive unchanged).
MODERATION = {"redact": [r"\b\d{3}-\d{2}-\d{4}\b", r"(?i)\bpassword:\s*\S+"],
              "block": [r"(?i)\bforbidden words?\b"]}  # fmt: skip
RESPONSES = 100  # the load (full mode); smaller modes take their largest load below it
COST_TOKENS = 4000
PROMPT = "How does a Kafka consumer group rebalance when a member leaves?"
# The json view reads a JSON document: the demo model's instance of this schema.
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "string"}, "minItems": 40, "maxItems": 40},
        "score": {"type": "number"},
        "done": {"type": "boolean"},
    },
    "required": ["title", "steps", "score", "done"],
}


async def run(ctx: Context) -> dict[str, Any]:
    base = ctx.systems["tokenrelay"]
    fitting = [n for n in ctx.mode.loads if n <= RESPONSES]
    n = max(fitting) if fitting else min(ctx.mode.loads)
    variants: list[tuple[str, tuple[str, ...], str | None]] = [
        ("raw, no views asked", (), None),
        ("raw", TEXT_VIEWS, None),
        ("view sentences", TEXT_VIEWS, "sentences"),
        ("view moderated (rules)", MODERATED_VIEWS, "moderated"),
    ]
    runs = []
    for label, views, read in variants:
        system = copy.copy(base)
        system.views, system.read_view = views, read  # type: ignore[attr-defined]
        system.options = {"moderation": MODERATION}  # type: ignore[attr-defined]
        r = await load.guarded(ctx, system, responses=n, readers_per=1, label=ctx.label("views"))
        r["variant"] = label
        runs.append(r)
    out = {
        "rate": ctx.mode.rate,
        "responses": n,
        "views": {"text": list(TEXT_VIEWS), "moderated": list(MODERATED_VIEWS)},
        "runs": runs,
        "transforms": await transform_costs(COST_TOKENS if ctx.mode.name != "smoke" else 200),
    }
    ctx.write("views", out)
    return out


async def transform_costs(tokens: int) -> dict[str, float]:
    """CPU µs per raw token of each built-in transform, fed the demo answer one token per raw
    event (the worst case: at 30 tokens/s most raw deltas carry one token)."""
    from agents.models.demo import generate
    from agents.transforms.base import Spec
    from agents.transforms.registry import BUILTIN
    from app.events import Event
    from app.settings import Settings

    settings = Settings()
    markdown = [t async for t in generate(PROMPT, tokens=tokens, rate=0)]
    out: dict[str, float] = {}
    for name, cls in BUILTIN.items():
        pieces, options = markdown, {"moderation": MODERATION}
        if name == "json":
            pieces, options = await _json_pieces(), {"json": {"answer": SCHEMA}}
        transform = cls(Spec("bench", options, settings))
        feed = [Event("bench", "delta", seq=i + 1, text=p) for i, p in enumerate(pieces)]
        began = time.process_time()
        for event in feed:
            transform.feed(event)
        transform.feed(Event("bench", "done", seq=len(feed) + 1))
        out[name] = round((time.process_time() - began) * 1e6 / len(feed), 2)
    return out


async def _json_pieces() -> list[str]:
    from agents.models.demo import DemoModel
    from app.contract.requests import Call

    fmt = {"type": "json_schema", "json_schema": {"name": "plan", "schema": SCHEMA}}
    call = Call("answer", "demo", ({"role": "user", "content": PROMPT},),
                {"response_format": fmt, "rate": 0, "tokens": 100_000})  # fmt: skip
    return [p async for p in DemoModel(400, 0, 0).stream(call) if isinstance(p, str)]
