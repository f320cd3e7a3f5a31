"""`tokenrelay tail`: print a response's events from an edge as JSON lines, through the client
(app/client/), which resumes after drops without a gap or a repeat."""

from __future__ import annotations

import sys

import httpx
import orjson

from app.client import AsyncClient, Backoff, ClientError


async def tail(base_url: str, rid: str, after: int, token: str | None = None) -> int:
    """Print each event's JSON on a line until the terminal event; 0 on done, 1 otherwise.
    `token`: a read token or an API key, for an edge with auth on."""
    last = None
    async with AsyncClient(base_url, token=token, backoff=Backoff(attempts=10)) as client:
        try:
            async with client.events(rid, after=after) as stream:
                async for event in stream:
                    print(orjson.dumps(event.data).decode(), flush=True)
                    last = event
            if last is None:  # 204: the cursor already held the terminal event
                return 0 if (await client.get(rid)).status == "done" else 1
        except (ClientError, httpx.HTTPError) as exc:
            print(f"tail: {exc}", file=sys.stderr)
            return 1
    return 0 if last.type == "done" else 1
