"""The built-in `demo` model: a realistic markdown answer (prose, a list, a fenced code block)
streamed token by token at a steady rate, so everything works with no model server.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator

from agents.models import demo_json
from agents.models.base import Item
from app import structured
from app.contract.requests import Call
from app.usage import Usage

_SECTION = """## Part {i}: {topic}

Streaming a model's answer token by token lets a reader start at once instead of waiting \
for the whole reply. Each token is published to Kafka under the response id, sequenced, \
and fanned out to every reader, who can resume from any position after a drop.

Things to check in part {i}:

- the first token arrives within milliseconds;
- a dropped connection resumes **without a gap** or a repeat;
- slow readers never slow down fast ones.

```python
async def relay_{i}(tokens):
    async for token in tokens:
        yield token.upper()  # step {i}
```

"""

_TOKEN = re.compile(r"\s*\S+|\s+")


def _tokens(prompt: str) -> Iterator[str]:
    topic = " ".join(prompt.split()[:6]) or "streaming"
    i = 1
    while True:
        yield from _TOKEN.findall(_SECTION.format(i=i, topic=topic))
        i += 1


async def generate(
    prompt: str,
    *,
    tokens: int,
    rate: float,
    first_token_ms: float = 0.0,
    pieces: list[str] | None = None,
    usage: bool = False,
) -> AsyncIterator[Item]:
    """Yield `tokens` chunks at `rate` per second (0 or less: as fast as possible); with
    `pieces`, those (all of them) instead of the markdown answer. With `usage`, a `Usage` last:
    the demo model's own counts (words of the prompt in, chunks out), as an upstream reports."""
    start = time.monotonic() + first_token_ms / 1000.0
    source = iter(pieces) if pieces is not None else _tokens(prompt)
    count = tokens if pieces is None else len(pieces)
    for i in range(count):
        if rate > 0:
            # Scheduled from the start, so slow iterations do not make the rate drift.
            delay = start + i / rate - time.monotonic()
            await asyncio.sleep(max(0.0, delay))
        elif i % 64 == 0:
            await asyncio.sleep(0)
        yield next(source)
    if usage:  # in here, not in a wrapping generator: that would cost a layer per token
        yield Usage(len(prompt.split()), count)


class DemoModel:
    """The `demo` adapter: params `tokens`, `rate` and `first_token_ms` override the settings.
    With a `response_format` asking for JSON it streams a valid document instead (demo_json.py),
    whole whatever `tokens` says."""

    def __init__(self, tokens: int, rate: float, first_token_ms: float) -> None:
        self.tokens = tokens
        self.rate = rate
        self.first_token_ms = first_token_ms

    def stream(self, call: Call) -> AsyncIterator[Item]:
        params = call.params
        wants_json, schema = structured.schema_of(params)
        document = demo_json.document(schema, call.prompt) if wants_json else None
        return generate(
            call.prompt,
            tokens=int(params.get("tokens", self.tokens)),
            rate=float(params.get("rate", self.rate)),
            first_token_ms=float(params.get("first_token_ms", self.first_token_ms)),
            pieces=demo_json.tokens(document) if wants_json else None,
            usage=True,
        )
