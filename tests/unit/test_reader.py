"""The edge's fan-out and one reader's catch-up/live merge, with frames fed by hand (no Kafka)."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from app import events
from app.edge.fanout import Fanout
from app.edge.history import History
from app.edge.metrics import Metrics
from app.edge.resume import Reader
from app.events import Event
from app.settings import Settings

SETTINGS = Settings(topic_prefix="t", edge_subscriber_queue=4, edge_buffer_events=8)
EVENTS = TopicPartition("t.events", 0)


def make() -> tuple[Fanout, Reader]:
    metrics = Metrics()
    fanout = Fanout(SETTINGS, metrics)
    return fanout, Reader(fanout, History(SETTINGS, metrics), metrics)


def feed(fanout: Fanout, seq: int, type_: str = events.DELTA) -> None:
    text = f"t{seq} " if type_ == events.DELTA else None
    event = Event(rid="r", type=type_, seq=seq, ts=1.0, text=text)
    fanout._on_record(EVENTS, seq, events.encode(event))


async def collect(stream, until: int) -> list[int]:  # type: ignore[no-untyped-def]
    seqs = []
    async for data in stream:
        seqs.append(int(data.split(b"\n", 1)[0][4:]))
        if seqs[-1] >= until:
            break
    return seqs


async def test_reader_merges_ring_and_live_without_gaps_or_repeats() -> None:
    fanout, reader = make()
    for seq in range(1, 6):
        feed(fanout, seq)
    stream = await reader.open(fanout.responses["r"], after=2)
    task = asyncio.create_task(collect(stream, until=9))
    await asyncio.sleep(0)
    for seq in (5, 6, 7, 8):  # 5 arrives again (a re-read): dropped by seq
        feed(fanout, seq)
    feed(fanout, 9, events.DONE)
    assert await asyncio.wait_for(task, 2) == [3, 4, 5, 6, 7, 8, 9]


async def test_a_reader_that_falls_behind_catches_up_from_the_ring() -> None:
    fanout, reader = make()
    feed(fanout, 1)
    stream = await reader.open(fanout.responses["r"], after=0)
    first = await anext(stream)
    assert first.startswith(b"id: 1\n")
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
    assert [f.seq for f in tracked.frames_after(15) or []] == [16, 17, 18, 19, 20]


async def test_a_reader_before_the_first_token_needs_no_kafka_read() -> None:
    fanout, reader = make()
    fanout.track("r", 0)  # known from the responses index, no event yet
    assert fanout.responses["r"].frames_after(0) == []
    stream = await reader.open(fanout.responses["r"], after=0)
    task = asyncio.create_task(collect(stream, until=2))
    await asyncio.sleep(0)
    feed(fanout, 1)
    feed(fanout, 2, events.DONE)
    assert await asyncio.wait_for(task, 2) == [1, 2]
    fanout.responses["r"].final_seq = 2
    fanout.responses["r"].recent.clear()
    assert fanout.responses["r"].frames_after(0) is None  # ended, nothing held: ask Kafka


async def test_a_body_never_iterated_still_releases_its_subscription() -> None:
    fanout, reader = make()
    feed(fanout, 1)
    body = await reader.open(fanout.responses["r"], after=0)
    assert fanout.responses["r"].subscribers
    await body.aclose()  # the client left before the response started
    assert not fanout.responses["r"].subscribers
