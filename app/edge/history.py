"""Catch-up reads: a response's events after a position, read from Kafka when the edge's ring
no longer holds them (an old response, a new edge, a reader that fell far behind).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import events
from app.edge import sse
from app.edge.fanout import Frame, Tracked
from app.edge.metrics import Metrics
from app.errors import DecodeError, NotRetained
from app.settings import Settings

# Producer clocks and the broker's may disagree a little; start the time seek this much early.
CLOCK_SKEW_MS = 5_000


class History:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._limit = asyncio.Semaphore(settings.edge_max_catchup_reads)

    async def read(self, tracked: Tracked, after: int) -> AsyncIterator[Frame]:
        """Yield the frames with seq > `after` in order, up to the log's end as of now.

        Raises NotRetained, before yielding anything, when Kafka no longer holds seq after+1.
        """
        tp = TopicPartition(self.settings.events_topic, tracked.partition)
        async with self._limit:
            self.metrics.catchup_reads.inc()
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka,
                enable_auto_commit=False,
                fetch_max_wait_ms=50,
                client_id="tokenrelay-edge-history",
            )
            await consumer.start()
            try:
                consumer.assign([tp])
                begin = (await consumer.beginning_offsets([tp]))[tp]
                end = (await consumer.end_offsets([tp]))[tp]
                wanted = await self._start_offset(consumer, tp, tracked, after)
                # Only a start Kafka has deleted makes events "no longer retained"; anything
                # else not found is not stored yet and will come live.
                trimmed = wanted < begin
                consumer.seek(tp, max(begin, wanted))
                expect = after + 1
                while await consumer.position(tp) < end:
                    batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
                    for record in batch.get(tp, []):
                        if record.offset >= end or record.key != tracked.rid.encode():
                            continue
                        try:
                            event = events.decode(record.value)
                        except DecodeError:
                            continue
                        if event.seq < expect:
                            continue
                        if event.seq > expect:
                            raise NotRetained(f"events after {after} are no longer retained")
                        yield Frame(event.seq, event, sse.frame(event, record.value))
                        expect += 1
                        if event.terminal:
                            return
                if trimmed and expect == after + 1 and tracked.final_seq > after:
                    raise NotRetained(f"events after {after} are no longer retained")
            finally:
                await consumer.stop()

    async def _start_offset(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, tracked: Tracked, after: int
    ) -> int:
        usable = [offset for seq, offset in tracked.checkpoints if seq <= after + 1]
        if usable:
            return usable[-1]
        if tracked.created_ts:
            since = max(0, int(tracked.created_ts) - CLOCK_SKEW_MS)
            found = (await consumer.offsets_for_times({tp: since}))[tp]
            if found is not None:
                return int(found.offset)
        return 0
