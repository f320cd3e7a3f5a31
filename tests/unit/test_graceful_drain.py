"""Graceful stops in process: an edge's shutdown ends each stream with a jittered `retry:` hint
after whole frames only (never mid-event), a stream that ends by itself gets none; a worker's
drain waits for running responses up to its deadline, and defers its cleanup only while
draining."""

from __future__ import annotations

import asyncio
import re
import time

from agents.drain import Drain
from app.edge.resume import wire
from app.edge.stream import EventStream, Streams
from tests.unit.test_edge_stream import SETTINGS, FakeServer, wait_until
from tests.unit.test_reader import feed, make

RETRY_MS = 200


async def open_stream(streams: Streams) -> tuple[object, EventStream]:
    fanout, reader = make(SETTINGS)
    feed(fanout, 1)
    body = await reader.open(fanout.responses["r"], after=0)
    assert body is not None
    return fanout, EventStream(wire(body), streams, 5.0)


async def test_shutdown_sends_a_jittered_retry_after_whole_frames_then_ends() -> None:
    hints = set()
    for _ in range(8):
        streams = Streams(RETRY_MS)
        fanout, app = await open_stream(streams)
        server = FakeServer(send_delay_s=0.01)  # a send may be under way when it closes
        task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
        await wait_until(lambda: len(server.bodies) >= 1)  # noqa: B023
        for seq in range(2, 30):
            feed(fanout, seq)  # type: ignore[arg-type]
        streams.close()
        await asyncio.wait_for(task, 2)
        last = server.sent[-1]
        assert last["type"] == "http.response.body" and last["more_body"] is False
        found = re.fullmatch(rb"retry: (\d+)\n\n", last["body"])
        assert found, last
        hints.add(int(found[1]))
        assert RETRY_MS <= int(found[1]) <= 2 * RETRY_MS
        frames = b"".join(server.bodies[:-1])
        # Whole frames only: every one ends with its blank line, ids contiguous from 1.
        assert frames.endswith(b"\n\n")
        ids = [int(x) for x in re.findall(rb"^id: (\d+)$", frames, re.M)]
        assert ids == list(range(1, len(ids) + 1)) and ids
        assert frames.count(b"\ndata: ") == len(ids)
    assert len(hints) > 1, "the hint is jittered per stream"


async def test_a_stream_that_ends_by_itself_gets_no_hint() -> None:
    streams = Streams(RETRY_MS)
    fanout, app = await open_stream(streams)
    server = FakeServer()
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    feed(fanout, 2, "done")  # type: ignore[arg-type]
    await asyncio.wait_for(task, 2)
    assert server.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert not streams.draining
    streams.close()
    assert streams.draining


async def test_no_hint_when_retry_is_zero() -> None:
    assert Streams(0).retry_hint() == b""


async def test_the_drain_waits_for_running_responses_up_to_its_deadline() -> None:
    drain = Drain(0.3)
    quick = asyncio.create_task(asyncio.sleep(0.05))
    slow = asyncio.create_task(asyncio.sleep(5))
    await drain.settle({"a": quick})  # not draining: no wait at all
    assert not quick.done()
    drain.begin()
    started = time.monotonic()
    await drain.settle({"a": quick, "b": slow})
    assert quick.done() and not slow.done()
    assert 0.2 < time.monotonic() - started < 2.0
    slow.cancel()


async def test_cleanup_runs_at_once_unless_draining_then_after() -> None:
    ran: list[str] = []

    async def cleanup(name: str) -> None:
        await asyncio.sleep(0.01)
        ran.append(name)

    drain = Drain(1.0)
    await drain.later(cleanup("now"))
    assert ran == ["now"]
    drain.begin()
    await drain.later(cleanup("deferred"))
    assert ran == ["now"]
    await drain.wait()
    assert ran == ["now", "deferred"]
