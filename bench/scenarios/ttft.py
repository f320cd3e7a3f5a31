"""Time-to-first-token overhead: POST /v1/responses (demo model) then GET its events, to the
first delta at the client, minus the demo model's own configured first-token delay. The
baseline's figure is the same schedule started by one GET. Requests go one at a time."""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.loadproc import run_probe

FIRST_TOKEN_MS = 200.0
TOKENS = 5


async def run(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"first_token_ms": FIRST_TOKEN_MS, "systems": {}}
    for name in ("tokenrelay", "baseline"):
        if name not in ctx.systems:
            continue
        got = await run_probe(
            ctx.children,
            ctx.label(f"ttft-{name}"),
            {
                "task": "ttft",
                "host": "127.0.0.1",
                "port": ctx.systems[name].port,
                "kind": name,
                "reps": ctx.mode.ttft_reps,
                "first_token_ms": FIRST_TOKEN_MS,
                "tokens": TOKENS,
                "rate": ctx.mode.rate,
                "timeout_s": 60 + 5 * ctx.mode.ttft_reps,
            },
            90 + 5 * ctx.mode.ttft_reps,
        )
        out["systems"][name] = got
        ctx.log(f"ttft {name}: overhead {got['overhead_ms']}")
    ctx.write("ttft", out)
    return out
