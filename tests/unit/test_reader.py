"""The edge's fan-out and one reader's catch-up/live merge, with frames fed by hand (no Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app import events
from app.deadletter import DeadLetters
from app.edge.fanout import Fanout
from app.edge.history import History
from app.edge.metrics import Metrics
from app.edge.pool import ConsumerPool
from app.edge.resume import Reader, wire
from app.edge.sse import PING
from app.edge.tracked import SEQ, Frame
from app.errors import CursorBeyondEnd
from app.events import Event
from app.settings import Settings

SETTINGS = Settings(topic_prefix="t", edge_subscriber_queue=4, edge_buffer_events=8)


def make(settings: Settings = SETTINGS, heartbeat_s: float = 5.0) -> tuple[Fanout, Reader]:
    metrics = Metrics()
    fanout = Fanout(settings, metrics, DeadLetters(settings))
    history = History(settings, metrics, ConsumerPool(settings, 1), fanout.settled)
    return fanout, Reader(fanout, history, metrics, heartbeat_s)


def feed(fanout: Fanout, seq: int, type_: str = events.DELTA, rid: str = "r") -> None:
    text = f"t{seq} " if type_ == events.DELTA else None
    event = Event(rid=rid, type=type_, seq=seq, ts=1.0, text=text)
    fanout.on_event(0, seq, rid.encode(), events.encode(event), 0.0)


async def collect(stream: AsyncIterator[list[Frame]], until: int) -> list[int]:
    seqs: list[int] = []
    async for batch in stream:
        seqs += [f[SEQ] for f in batch]
        if seqs and seqs[-1] >= until:
            break
    return seqs


async def test_reader_merges_ring_and_live_without_gaps_or_repeats() -> None:
    fanout, reader = make()
    for seq in range(1, 6):
        feed(fanout, seq)
    stream = await reader.open(fanout.responses["r"], after=2)
    assert stream is not None
    task = asyncio.create_task(collect(stream, until=9))
    await asyncio.sleep(0)
    for seq in (5, 6, 7, 8):  # 5 arrives again (a late duplicate): dropped by the rule
        feed(fanout, seq)
    feed(fanout, 9, events.DONE)
    assert await asyncio.wait_for(task, 2) == [3, 4, 5, 6, 7, 8, 9]


async def test_a_reader_that_falls_behind_catches_up_from_the_ring() -> None:
    fanout, reader = make()
    feed(fanout, 1)
    stream = await reader.open(fanout.responses["r"], after=0)
    assert stream is not None
    first = await anext(stream)
    assert [f[SEQ] for f in first] == [1]
    for seq in range(2, 8):  # more than the queue of 4 while the reader is not reading
        feed(fanout, seq)
    feed(fanout, 8, events.DONE)
    sub = next(iter(fanout.responses["r"].subscribers))
    assert sub.overflowed and not sub.frames  # the queue was dropped, not grown
    assert await asyncio.wait_for(collect(stream, until=8), 2) == list(range(2, 9))
    await stream.aclose()
    assert not fanout.responses["r"].subscribers


async def test_the_ring_is_bounded_and_reports_how_far_it_reaches() -> None:
    fanout, _ = make()
    for seq in range(1, 21):
        feed(fanout, seq)
    tracked = fanout.responses["r"]
    assert len(tracked.recent) == SETTINGS.edge_buffer_events
    assert tracked.frames_after(5) is None  # seq 6 is gone from memory: Kafka must serve it
    assert [f[SEQ] for f in tracked.frames_after(15) or []] == [16, 17, 18, 19, 20]


async def test_a_reader_before_the_first_token_needs_no_kafka_read() -> None:
    fanout, reader = make()
    fanout.on_index(
        b'{"rid":"r","state":"open","partition":0,"created":1.0,"ts":1.0,"seq":0,'
        b'"first":null,"last":null}'
    )
    assert fanout.responses["r"].frames_after(0) == []
    stream = await reader.open(fanout.responses["r"], after=0)
    assert stream is not None
    task = asyncio.create_task(collect(stream, until=2))
    await asyncio.sleep(0)
    feed(fanout, 1)
    feed(fanout, 2, events.DONE)
    assert await asyncio.wait_for(task, 2) == [1, 2]
    fanout.responses["r"].recent.clear()
    # Ended, nothing held: ask Kafka for anything before the end.
    assert fanout.responses["r"].frames_after(0) is None


async def test_a_response_first_seen_mid_stream_is_read_from_kafka_before_that() -> None:
    fanout, _ = make()
    feed(fanout, 7)  # this edge started while the response was running
    tracked = fanout.responses["r"]
    assert not tracked.from_start
    assert tracked.frames_after(0) is None
    assert [f[SEQ] for f in tracked.frames_after(6) or []] == [7]


async def test_a_body_never_iterated_still_releases_its_subscription() -> None:
    fanout, reader = make()
    feed(fanout, 1)
    body = await reader.open(fanout.responses["r"], after=0)
    assert body is not None and fanout.responses["r"].subscribers
    await body.aclose()  # the client left before the response started
    assert not fanout.responses["r"].subscribers


async def test_cursor_ahead_waits_then_ends_when_the_response_ends_short_of_it() -> None:
    fanout, reader = make(heartbeat_s=0.05)
    for seq in range(1, 4):
        feed(fanout, seq)
    tracked = fanout.responses["r"]
    body = await reader.open(tracked, after=10)  # ahead of the log: wait, it may get there
    assert body is not None
    stream = wire(body)
    assert await asyncio.wait_for(anext(stream), 2) == PING  # idle: heartbeats while waiting
    feed(fanout, 4, events.DONE)  # it ended at 4, short of 10: the stream ends, not hangs
    rest = [chunk async for chunk in stream]
    assert all(chunk == PING for chunk in rest)
    await stream.aclose()
    assert not tracked.subscribers
    with pytest.raises(CursorBeyondEnd):  # the reconnect is told clearly
        await reader.open(tracked, after=10)
    assert await reader.open(tracked, after=4) is None  # at the terminal: nothing to send (204)


async def test_cursor_ahead_that_the_response_reaches_gets_the_rest() -> None:
    fanout, reader = make(heartbeat_s=0.05)
    feed(fanout, 1)
    body = await reader.open(fanout.responses["r"], after=3)
    assert body is not None
    task = asyncio.create_task(collect(body, until=5))
    for seq in (2, 3, 4):
        feed(fanout, seq)
    feed(fanout, 5, events.DONE)
    assert await asyncio.wait_for(task, 2) == [4, 5]
