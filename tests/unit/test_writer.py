"""The writer's seq and coalescing, without Kafka: a Publisher whose producer only records."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from app.contract import index
from app.producer import Publisher, WriteFailed
from app.settings import Settings


class Recording(Publisher):
    """Keeps every produced record; `ack()` delivers them as Kafka would, in order."""

    def __init__(self) -> None:
        super().__init__(Settings(partitions=4))
        self.records: list[tuple[str, dict[str, Any], int, Any]] = []
        self.batched: list[bool] = []  # per record: sent by the batching producer
        self._acked = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        pass

    def _produce(
        self, topic: str, key: str, value: bytes, part: int, report: Any, batch: bool = False,
        headers: Any = None,
    ) -> None:  # fmt: skip
        self.records.append((topic, orjson.loads(value), part, report))
        self.batched.append(batch)

    def ack(self, error: Any = None) -> None:
        reports = []
        for offset, (_, _, _, report) in enumerate(self.records[self._acked :], self._acked):
            target, seq = report.args
            reports.append((target, seq, error, offset))
        self._acked = len(self.records)
        self._delivered(reports)

    async def drive(self, task: asyncio.Task[None]) -> None:
        """Acknowledge whatever is produced until `task` (a terminal write) is over."""
        for _ in range(50):
            await tick()
            if task.done():
                break
            self.ack()
        await task

    def events(self) -> list[dict[str, Any]]:
        return [v for t, v, _, _ in self.records if t == self.settings.events_topic]

    def index(self) -> list[dict[str, Any]]:
        return [v for t, v, _, _ in self.records if t == self.settings.responses_topic]


async def tick() -> None:
    """Let every ready callback and task run (the writer sends at the end of a loop tick)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_first_piece_goes_out_at_once_and_later_ones_join_while_it_is_in_flight() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    await writer.delta("a")
    await tick()
    assert [e["text"] for e in pub.events()] == ["a"]
    for piece in ("b", "c", "d"):
        await writer.delta(piece)
    await tick()
    assert len(pub.events()) == 1  # still in flight: nothing more is sent
    pub.ack()
    await tick()
    events = pub.events()
    assert [(e["seq"], e["text"]) for e in events] == [(1, "a"), (2, "bcd")]


async def test_pieces_of_one_tick_make_one_delta_and_ts_is_the_first_pieces() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    await writer.delta("x")
    await asyncio.sleep(0.01)  # "y" arrives later, but in the same tick as "z"
    await writer.delta("y")
    await writer.delta("z")
    await tick()
    pub.ack()
    await tick()
    events = pub.events()
    assert [e["text"] for e in events] == ["x", "yz"]
    assert events[1]["ts"] >= events[0]["ts"] + 5


async def test_seq_is_contiguous_across_sources_and_types() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    await writer.delta("a", "one")
    await writer.delta("b", "two")
    await writer.delta("c", "one")
    await writer.source_done("one")
    await pub.drive(asyncio.create_task(writer.done()))
    events = pub.events()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["type"], e["source"], e.get("text")) for e in events] == [
        ("delta", "one", "a"),
        ("delta", "two", "b"),
        ("delta", "one", "c"),
        ("source.done", "one", None),
        ("done", "answer", None),
    ]
    assert {p for _, _, p, _ in pub.records} == {writer.partition}


async def test_terminal_index_record_follows_the_stored_terminal_event() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    await writer.delta("a")
    finished = asyncio.create_task(writer.done())
    await tick()
    assert [r["state"] for r in pub.index()] == [index.OPEN]  # written with the first batch
    pub.ack()
    await tick()
    await pub.drive(finished)
    states = [r["state"] for r in pub.index()]
    assert states == [index.OPEN, "done"]
    assert pub.index()[-1]["seq"] == 2 and pub.index()[-1]["first"] is not None
    assert "r1" not in pub.writing  # nothing stays per finished response


async def test_nothing_is_written_after_the_terminal_event() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1", announced=True)
    await pub.drive(asyncio.create_task(writer.cancelled()))
    await writer.delta("late")
    await writer.done()
    await tick()
    assert [e["type"] for e in pub.events()] == ["cancelled"]


async def test_a_refused_event_fails_the_writer() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1", announced=True)
    await writer.delta("a")
    finished = asyncio.create_task(writer.done())
    await tick()
    pub.ack(error="broker said no")
    with pytest.raises(WriteFailed):
        await finished
    assert "r1" not in pub.writing


async def test_beats_only_when_something_happened() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1", announced=True)
    await writer.delta("a")
    await tick()
    pub.ack()
    await tick()
    writer._beat()
    writer._beat()
    beats = [r for r in pub.index() if r["state"] == index.BEAT]
    assert len(beats) == 1 and beats[0]["seq"] == 1 and beats[0]["last"] == 0


async def test_events_batch_only_while_the_process_is_busy_and_index_records_never() -> None:
    pub = Recording()
    await pub.start()
    now = [1000.0]
    pub.clock = lambda: now[0]
    writers = [pub.response(f"r{i}") for i in range(600)]

    async def round_of_deltas() -> int:
        first = len(pub.records)
        for writer in writers:
            await writer.delta("x")
        await tick()
        pub.ack()
        return first

    quiet = await round_of_deltas()  # 600 records in the first window: a rate not known yet
    now[0] += 0.25  # the window closes: 600 records in 0.25 s is busy
    busy = await round_of_deltas()
    assert not any(pub.batched[quiet:busy]) and all(pub.batched[busy:])
    assert {pub.records[i][0] for i in range(busy, len(pub.records))} == {pub.settings.events_topic}
    now[0] += 0.25
    await writers[0].delta("y")  # the window just closed still held the busy round
    await tick()
    pub.ack()
    assert pub.batched[-1] is True
    now[0] += 0.25
    await writers[0].delta("z")  # one record in 0.25 s: quiet again, sent at once
    await tick()
    assert pub.batched[-1] is False and pub.records[-1][1]["text"] == "z"
    pub.send(pub.settings.responses_topic, "r0", b"{}")
    assert pub.batched[-1] is False  # index records always go at once
