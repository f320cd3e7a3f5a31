"""A cursor ahead of a response's log used to hang its reader forever when the response ended
short of it (the terminal event, seq <= cursor, was dropped as already seen). Now: it waits with
heartbeats while the response may still get there, and is told `cursor_beyond_end` (400) once
the response ended before it, on this edge and on one that never saw the response."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.producer import Publisher

from .procs import Stack
from .sse import assert_contiguous, client_for, read_all, read_events
from .test_errors import assert_read_error
from .writes import deltas

pytestmark = pytest.mark.integration


async def test_cursor_ahead_waits_then_gets_the_rest(stack: Stack) -> None:
    edge = await stack.edge()
    async with Publisher(stack.settings) as pub, client_for(edge.url) as client:
        writer = pub.response()
        await writer.open()
        await deltas(writer, 1, 3)
        ahead = asyncio.create_task(read_all(client, writer.rid, after=5, timeout_s=30))
        await asyncio.sleep(stack.settings.heartbeat_s * 1.5)
        assert not ahead.done(), "a cursor ahead of an in-progress response must wait"
        await deltas(writer, 4, 8)
        await writer.source_done()
        await writer.done()
        got = await ahead
    assert_contiguous(got.events, first=6)
    assert got.pings >= 1


async def test_cursor_beyond_the_end_is_a_clear_400_not_a_hang(stack: Stack) -> None:
    edge = await stack.edge()
    async with Publisher(stack.settings) as pub, client_for(edge.url) as client:
        writer = pub.response()
        await writer.open()
        await deltas(writer, 1, 3)
        ahead = asyncio.create_task(read_events(client, writer.rid, after=50, timeout_s=30))
        await asyncio.sleep(0.5)
        assert not ahead.done()
        await writer.done()  # seq 4: the response ended short of the cursor
        started = time.monotonic()
        waited = await ahead
        assert waited.status == 200 and waited.events == [] and waited.ended == "eof"
        assert time.monotonic() - started < 5, "the stream must close when the response ends"
        reconnect = await read_events(client, writer.rid, last_event_id=50, timeout_s=15)
        assert_read_error(reconnect, 400, "cursor_beyond_end")
        at_end = await read_events(client, writer.rid, after=4, timeout_s=15)
        assert at_end.status == 204

    fresh = await stack.edge()  # never saw the response: finds it in Kafka, same answers
    async with client_for(fresh.url) as client:
        got = await read_events(client, writer.rid, after=50, timeout_s=15)
        assert_read_error(got, 400, "cursor_beyond_end")
        assert (await read_events(client, writer.rid, after=4, timeout_s=15)).status == 204
        whole = await read_all(client, writer.rid, timeout_s=15)
        assert_contiguous(whole.events)
        assert "Traceback" not in fresh.text() + edge.text()
