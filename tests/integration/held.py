"""SSE connections a test holds open, and the edge's JSON refusals, for the limits and CORS
tests. Clients are told apart by X-Forwarded-For through a trusted proxy (127.0.0.1): every
test client connects from the same address.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

RELEASE_WAIT_S = 5.0  # a dropped connection's slot is back once the edge sees the socket close


def who(n: int, **extra: str) -> dict[str, str]:
    """The headers of client number `n` (its address, as the trusted proxy forwards it)."""
    return {"X-Forwarded-For": f"198.51.100.{n}", **extra}


class Held:
    """One SSE connection held open; `event()` reads its next event's data."""

    def __init__(self, resp: httpx.Response) -> None:
        self.resp = resp
        self.lines = resp.aiter_lines()

    @property
    def status(self) -> int:
        return self.resp.status_code

    async def event(self, timeout_s: float = 15.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            async for line in self.lines:
                if line.startswith("data: "):
                    data: dict[str, Any] = orjson.loads(line[6:])
                    return data
        raise AssertionError("the stream ended")

    async def rest(self) -> None:
        """Read to the end of the body (the edge ends it after the terminal event)."""
        async with asyncio.timeout(15):
            async for _ in self.lines:
                pass

    async def drop(self) -> None:
        await self.resp.aclose()


async def hold(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str] | None = None
) -> Held:
    req = http.build_request("GET", url, headers=headers, params=params)
    resp = await http.send(req, stream=True)
    if resp.status_code != 200:
        await resp.aread()
    return Held(resp)


async def hold_when_free(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    wait_for: int = 429,
) -> Held:
    """`hold`, retried while `wait_for` (429: a slot comes back when the edge sees the dropped
    socket close) for up to RELEASE_WAIT_S; a slot that never comes back fails the test."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    while True:
        held = await hold(http, url, headers, params)
        if held.status != wait_for or time.monotonic() > deadline:
            assert held.status == 200, f"{held.status} {held.resp.content[:300]!r}"
            return held
        await asyncio.sleep(0.1)


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, f"expected {status} {code}: {resp.status_code} {resp.text}"
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if status == 429:
        assert int(resp.headers["retry-after"]) >= 1, resp.headers
    else:
        assert "retry-after" not in resp.headers  # resending it as it is cannot succeed


async def get(http: httpx.AsyncClient, url: str, headers: dict[str, str],
              params: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    async with asyncio.timeout(15):  # an SSE 200 here would be a failure, not a hang
        held = await hold(http, url, headers, params)
        if held.status == 200:
            await held.drop()
        return held.resp
