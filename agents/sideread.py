"""Side reads of one response, beside the live path: what the events log really holds for it
(its last seq, whether and how it ended), folded by the readers' rule (app/ordering.py), and
whether a writer has said in the index that it took it.

The watchdog uses them before ending a silent response, and generation before running a request
that another worker may already have started. One consumer per caller, reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, events, kafka_security
from app.contract import index
from app.errors import DecodeError
from app.ordering import Order
from app.settings import Settings

T = TypeVar("T")
# Writer clocks and the broker's may disagree a little; time seeks start this much early.
CLOCK_SKEW_MS = 5_000


@dataclass(slots=True)
class Folded:
    """What one response's events in a range of the log add up to."""

    order: Order = field(default_factory=Order)
    final_type: str | None = None
    last_ts: float = 0.0  # the writer's `ts` of the last event that counts
    offsets: dict[int, int] = field(default_factory=dict)  # seq -> offset, of events that count


class SideReader:
    def __init__(self, settings: Settings, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()  # one read at a time on the one consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await consumers.stop(self._consumer)
            self._consumer = None

    async def fold(
        self,
        rid: str,
        partition: int,
        *,
        start: int | None = None,
        since_ms: float | None = None,
        until: int | None = None,
    ) -> Folded:
        """Fold `rid`'s events in its events partition from offset `start` (or log time
        `since_ms`, or the beginning) up to offset `until` (default: the end as of now)."""
        async with self._lock:
            return await self._fold(rid, partition, start, since_ms, until)

    async def taken(self, rid: str, partition: int, *, since_ms: float) -> float | None:
        """When a writer last said it had `rid` (the `ts` of its newest `beat` index record
        written since `since_ms`, log time), or None if none did."""
        async with self._lock:
            newest = None
            topic = self.settings.responses_topic
            async for _, found in self._decoded(topic, index.decode, rid, partition, since_ms):
                if found.state == index.BEAT:
                    newest = max(newest or 0.0, found.ts)
            return newest

    async def _fold(
        self, rid: str, partition: int, start: int | None, since_ms: float | None, until: int | None
    ) -> Folded:
        out = Folded()
        topic = self.settings.events_topic
        async for offset, event in self._decoded(
            topic, events.decode, rid, partition, since_ms, start, until
        ):
            if out.order.accept(event):
                out.offsets[event.seq] = offset
                out.last_ts = event.ts
                if event.terminal:
                    out.final_type = event.type
        return out

    async def _decoded(
        self, topic: str, decode: Callable[[bytes | None], T], rid: str, partition: int,
        since_ms: float | None, start: int | None = None, until: int | None = None,
    ) -> AsyncIterator[tuple[int, T]]:  # fmt: skip
        """(offset, decoded value) of `rid`'s records in `topic`'s `partition` from offset
        `start` (or log time `since_ms`, or the beginning) up to offset `until` (default: the
        end as of now); a record that does not decode is passed over."""
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        begin = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp] if until is None else until
        if start is None and since_ms is not None:
            found = await consumer.offsets_for_times({tp: max(0, int(since_ms) - CLOCK_SKEW_MS)})
            start = found[tp].offset if found[tp] is not None else end
        async with consumers.reading(consumer, tp, max(begin, start or 0)):
            async for record in consumers.keyed(consumer, tp, end, rid.encode()):
                try:
                    value = decode(record.value)
                except DecodeError:
                    continue
                yield record.offset, value

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **kafka_security.aiokafka_options(self.settings),
                enable_auto_commit=False,
                client_id=self.client_id,
            )
            try:
                await consumer.start()
            except BaseException:
                # Kept, a consumer that never started would fail every later read: the next
                # read (once Kafka is back) starts a new one.
                await consumers.stop(consumer)
                raise
            self._consumer = consumer
        return self._consumer
