"""Catch-up reads: a response's events after a position, read from Kafka when the edge's ring
does not hold them (an old response, a new edge, a reader that fell far behind).

A read borrows a pooled consumer for one chunk at a time and gives it back before the chunk is
yielded, so a client that stops reading holds no consumer; the next chunk re-seeks where the
last one stopped. The ordering rule applies as on the live path. A Kafka fault in the middle
raises Unavailable: the reader ends its stream and the client resumes.

Where Kafka no longer holds the start of what a reader needs, the stored copy (archive.py) is
served instead, byte for byte the same frames; only when storage lacks it too is it `not retained`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from app import events
from app.edge import sse
from app.edge.archive import Archive
from app.edge.metrics import Metrics
from app.edge.pool import ConsumerPool, read_from
from app.edge.tracked import SEQ, Frame, Tracked, frame_of, key_parts
from app.errors import DecodeError, NotRetained, Unavailable
from app.ordering import Order
from app.settings import Settings

# Producer clocks and the broker's may disagree a little; start a time seek this much early.
CLOCK_SKEW_MS = 5_000
# One borrow of a consumer reads at most this many records (other responses' included) or this
# many bytes of the response's own: what a stalled client can make the edge hold.
CHUNK_RECORDS = 2_000
CHUNK_BYTES = 1 << 20
# One chunk that makes no progress for this long is a fault (e.g. the broker is restarting).
CHUNK_TIMEOUT_S = 10.0

Settled = Callable[[Tracked, str, int], None]


class MaybeGone(NotRetained):
    """Nothing found where a stream without a known first offset would start, and Kafka has
    deleted records before that point: its events may have been there."""


class History:
    def __init__(
        self, settings: Settings, metrics: Metrics, pool: ConsumerPool, settled: Settled,
        archive: Archive | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.metrics = metrics
        self.pool = pool
        self.archive = archive
        self._settled = settled

    async def read(self, tracked: Tracked, after: int) -> AsyncGenerator[list[Frame], None]:
        """Batches of the frames with seq > `after`, in order, up to the log's end as of now.

        Raises NotRetained, before yielding anything, when neither Kafka nor storage holds seq
        after+1; Unavailable when Kafka or storage fails. Close it (contextlib.aclosing) when
        done with it early.
        """
        if tracked.archived:
            batches: list[list[Frame]] = []
            if not await self._stored(tracked, after, batches):
                raise NotRetained(f"events after {after} are no longer retained")
            for batch in batches:
                yield batch
            return
        yielded = False
        try:
            async with aclosing(self._kafka(tracked, after)) as kafka:
                async for batch in kafka:
                    yielded = True
                    yield batch
        except NotRetained as exc:
            out: list[list[Frame]] = []
            if yielded or not await self._stored(tracked, after, out):
                if isinstance(exc, MaybeGone) and not _view_gone(tracked):
                    if tracked.index_final is not None and after >= tracked.index_seq:
                        # The cursor is at or past the end the index recorded: 204 or 400
                        # (Reader.open), not a wait for events that will never come.
                        self._settled(tracked, tracked.index_final, tracked.index_seq)
                    return  # nothing found, as before storage existed: it may come live
                raise
            for batch in out:
                yield batch

    async def _stored(self, tracked: Tracked, after: int, out: list[list[Frame]]) -> bool:
        """Fill `out` with the stored frames after `after`; False when storage lacks them (or
        its copy lacks seq after+1: it was stored incomplete)."""
        if self.archive is None:
            return False
        replay = await self.archive.replay(tracked, after)
        if replay is None or (replay.frames and replay.frames[0][SEQ] != after + 1):
            return False
        if replay.final_seq:
            self._settled(tracked, replay.status, replay.final_seq)
        if replay.frames:
            out.append(replay.frames)
        return True

    async def _kafka(self, tracked: Tracked, after: int) -> AsyncGenerator[list[Frame], None]:
        self.metrics.catchup_reads.inc()
        rid, view = key_parts(tracked.rid)
        topic = self.settings.events_topic if view is None else self.settings.view_topic(view)
        tp = TopicPartition(topic, tracked.partition)
        key = rid.encode()
        order = Order()
        expect = after + 1
        position = end = trimmed = unsure = None
        while position is None or position < end:
            try:
                async with self.pool.consumer() as consumer, asyncio.timeout(CHUNK_TIMEOUT_S):
                    if position is None or end is None:
                        begin = (await consumer.beginning_offsets([tp]))[tp]
                        end = (await consumer.end_offsets([tp]))[tp]
                        wanted = await self._start(consumer, tp, tracked, after, end)
                        # Only a start Kafka has deleted makes events "no longer retained";
                        # anything else not found is not stored yet and will come live. A time
                        # seek that lands on the log's first record may have missed deleted ones.
                        trimmed = wanted < begin
                        unsure = tracked.first is None and begin > 0 and wanted <= begin
                        position = max(begin, wanted)
                    chunk, position = await _chunk(consumer, tp, position, end, key, order)
            except (KafkaError, OSError, TimeoutError) as exc:
                self.metrics.catchup_faults.inc()
                raise Unavailable(f"Kafka failed during a catch-up read: {exc!r}") from None
            frames: list[Frame] = []
            for event, value in chunk:
                if event.seq < expect:
                    continue
                if event.seq > expect:
                    raise NotRetained(f"events after {after} are no longer retained")
                frames.append(frame_of(event, sse.frame(event, value)))
                expect += 1
            if order.final:
                self._settled(tracked, _status(chunk), order.final)
            if frames:
                yield frames  # the consumer is back in the pool while the client reads
            if order.final:
                return
        if trimmed and expect == after + 1 and max(tracked.final_seq, tracked.index_seq) > after:
            raise NotRetained(f"events after {after} are no longer retained")
        if (trimmed or unsure) and expect == after + 1:
            raise MaybeGone(f"events after {after} may no longer be retained")

    async def _start(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, tracked: Tracked, after: int,
        end: int,
    ) -> int:  # fmt: skip
        usable = [offset for seq, offset in tracked.checkpoints if seq <= after + 1]
        if usable:
            return usable[-1]
        if tracked.first is not None:
            return tracked.first
        if tracked.created:
            since = max(0, int(tracked.created) - CLOCK_SKEW_MS)
            found = (await consumer.offsets_for_times({tp: since}))[tp]
            return end if found is None else int(found.offset)
        return 0  # an id without a time, never indexed with its first offset: scan


async def _chunk(
    consumer: AIOKafkaConsumer, tp: TopicPartition, position: int, end: int, key: bytes,
    order: Order,
) -> tuple[list[tuple[events.Event, bytes]], int]:  # fmt: skip
    """Up to CHUNK_RECORDS records from `position`: the response's accepted events, and where
    the next chunk starts."""
    if position >= end:
        return [], position  # never assign without fetching (pool.py, read_from)
    read_from(consumer, tp, position)
    accepted: list[tuple[events.Event, bytes]] = []
    read = size = 0
    while position < end and read < CHUNK_RECORDS and size < CHUNK_BYTES:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=CHUNK_RECORDS - read)
        records = batch.get(tp, [])
        for record in records:
            if record.offset >= end:
                return accepted, end
            if record.key != key or record.value is None:
                continue
            try:
                event = events.decode(record.value)
            except DecodeError:
                continue  # the live consumer dead-letters it
            if order.accept(event):
                accepted.append((event, record.value))
                size += len(record.value)
                if order.final or size >= CHUNK_BYTES:
                    return accepted, record.offset + 1
        read += len(records)
        position = await consumer.position(tp)
    return accepted, position


def _view_gone(tracked: Tracked) -> bool:
    """A view of a response that has ended, with nothing in Kafka where its events would start
    (deleted records before that point) and nothing stored: the views agent wrote its events
    right after the raw ones, so they were among those deleted and will not come live."""
    return tracked.parent is not None and tracked.parent.ended


def _status(chunk: list[tuple[events.Event, bytes]]) -> str:
    return chunk[-1][0].type
