"""Every dead letter in the edge's /metrics, by the topic it came from
(`tokenrelay_deadletters_total{topic}`): the edge follows <prefix>.deadletter from its end with a
consumer of its own, so poison on a topic only workers read (requests, control, the index) is
counted where the metrics are. Each origin counts once: every edge dead-letters the same bad
record of events, views and stats (app/deadletter.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter

from app import consumers, kafka_security
from app.contract import deadletter
from app.settings import Settings

log = logging.getLogger(__name__)
ORIGINS_KEPT = 10_000  # recent origins remembered to count each once
RETRY_S = 1.0
UNKNOWN = "unknown"


class DeadLetterCount:
    def __init__(self, settings: Settings, counter: Counter, partitions: int) -> None:
        self.settings = settings
        self.counter = counter  # labelled by `topic`
        self.partitions = partitions
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tokenrelay-edge-deadletters")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def count(self, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> None:
        """One dead letter, by its `origin` header (`<topic>/<partition>/<offset>`)."""
        letter = deadletter.decode(None, None, headers)
        if letter is not None:
            if letter.origin in self._seen:
                return
            self._seen[letter.origin] = None
            if len(self._seen) > ORIGINS_KEPT:
                self._seen.popitem(last=False)
        topic = letter.topic if letter is not None else UNKNOWN
        prefix = f"{self.settings.topic_prefix}."
        self.counter.labels(topic.removeprefix(prefix)).inc()

    async def _run(self) -> None:
        while True:  # a convenience like the stats: restart after a fault
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dead-letter count failed; restarting in %.0f s", RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            **kafka_security.aiokafka_options(self.settings),
            enable_auto_commit=False,
            client_id="tokenrelay-edge-deadletters",
        )
        await consumers.start(consumer)
        try:
            topic = self.settings.deadletter_topic
            tps = [TopicPartition(topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, ends[tp])  # counts from this edge's start, as counters do
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for records in batch.values():
                    for record in records:
                        self.count(record.headers)
        finally:
            await consumers.stop(consumer)
