"""Side reads of one response's events, beside the live path: what the log really holds for
it (its last seq, whether and how it ended), folded by the readers' rule (app/ordering.py).

The watchdog uses it before ending a silent response, and generation before running a request
that another worker may already have started. One consumer per caller, reused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, events, kafka_security
from app.errors import DecodeError
from app.ordering import Order
from app.settings import Settings

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

    async def _fold(
        self, rid: str, partition: int, start: int | None, since_ms: float | None, until: int | None
    ) -> Folded:
        consumer = await self._started()
        tp = TopicPartition(self.settings.events_topic, partition)
        begin = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp] if until is None else until
        if start is None and since_ms is not None:
            found = await consumer.offsets_for_times({tp: max(0, int(since_ms) - CLOCK_SKEW_MS)})
            start = found[tp].offset if found[tp] is not None else end
        key, out = rid.encode(), Folded()
        async with consumers.reading(consumer, tp, max(begin, start or 0)):
            await self._read(consumer, tp, end, key, out)
        return out

    async def _read(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, end: int, key: bytes, out: Folded
    ) -> None:
        async for record in consumers.keyed(consumer, tp, end, key):
            try:
                event = events.decode(record.value)
            except DecodeError:
                continue
            if out.order.accept(event):
                out.offsets[event.seq] = record.offset
                out.last_ts = event.ts
                if event.terminal:
                    out.final_type = event.type

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                **kafka_security.aiokafka_options(self.settings),
                enable_auto_commit=False,
                client_id=self.client_id,
            )
            await self._consumer.start()
        return self._consumer
