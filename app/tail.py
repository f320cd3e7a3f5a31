"""`tokenrelay tail`: print a response's events from an edge, resuming after drops."""

from __future__ import annotations

import asyncio
import sys

import httpx

from app import events


async def tail(base_url: str, rid: str, after: int, token: str | None = None) -> int:
    """Print each event's JSON on a line until the terminal event; 0 on done, 1 otherwise.
    `token`: an API key or the response's read token (docs/security.md)."""
    last = after
    attempts = 0
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers) as client:
        while True:
            try:
                async with client.stream(
                    "GET", f"/v1/responses/{rid}/events", params={"after": last}
                ) as response:
                    if response.status_code == 204:
                        return 0
                    if response.status_code == 503:
                        # Kafka is briefly unreachable from the edge: retry like a dropped link.
                        raise httpx.TransportError("edge answered 503")
                    if response.status_code != 200:
                        await response.aread()
                        print(response.text, file=sys.stderr)
                        return 1
                    attempts = 0
                    async for line in response.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        event = events.decode(line[6:].encode())
                        print(line[6:], flush=True)
                        last = event.seq
                        if event.terminal:
                            return 0 if event.type == events.DONE else 1
            except httpx.TransportError as exc:
                attempts += 1
                if attempts > 10:
                    print(f"tail: giving up: {exc}", file=sys.stderr)
                    return 1
                await asyncio.sleep(min(5.0, 0.2 * 2**attempts))
