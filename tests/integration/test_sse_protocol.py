"""The SSE wire contract a browser relies on: headers, one JSON line per event, and `: ping`
comments while a response is idle (TOKENRELAY_HEARTBEAT_S=2 here)."""

from __future__ import annotations

import time

import pytest

from .procs import Edge, Stack
from .sse import assert_contiguous, client_for, create_demo, read_all

pytestmark = pytest.mark.integration


async def test_headers_fields_and_heartbeat(shared: tuple[Stack, Edge]) -> None:
    stack, edge = shared
    async with client_for(edge.url) as client:
        # Two tokens ~3.3 s apart: the reader sits idle for longer than one heartbeat.
        rid = await create_demo(client, tokens=2, rate=0.3)
        started = time.monotonic()
        got = await read_all(client, rid, timeout_s=30)
        took = time.monotonic() - started
    assert got.headers["content-type"].startswith("text/event-stream")
    assert got.headers["cache-control"] == "no-cache"
    assert got.headers["x-accel-buffering"] == "no"
    assert_contiguous(got.events)
    assert took > stack.settings.heartbeat_s
    assert got.pings >= 1, (
        f"no ': ping' in {took:.1f}s with heartbeat {stack.settings.heartbeat_s}s"
    )
    assert [e.type for e in got.events] == ["delta", "delta", "source.done", "done"]
