"""The persist agent's reads: the events of a batch of finished responses (and their views and
generation requests), one range of each partition for all the batch's responses in it.

One plain consumer, no group, beside the live path like sideread.py. A partition is read once per
batch from the earliest start of its responses (their first offset, else a time seek) until each
has its terminal event or the log's end, in `getmany` batches, keeping only their keys and
applying the readers' rule (app/ordering.py).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.recording import Read
from app import consumers, events, kafka_security
from app.contract import requests
from app.contract.index import IndexRecord
from app.errors import DecodeError
from app.ordering import Order
from app.settings import Settings
from app.storage.records import RAW

CLOCK_SKEW_MS = 5_000  # writer clocks and the broker's may disagree: time seeks start early
READ_TIMEOUT_S = 60.0  # one partition's read; past it the batch is tried again
FETCH_RECORDS = 5_000


class Collector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **kafka_security.aiokafka_options(self.settings),
            enable_auto_commit=False,
            fetch_max_wait_ms=5,  # reads stop at the log's end: nothing to wait for there
            max_partition_fetch_bytes=4 << 20,
            client_id="tokenrelay-persist",
        )
        await consumers.start(self._consumer)

    async def close(self) -> None:
        if self._consumer is not None:
            await consumers.stop(self._consumer)
            self._consumer = None

    async def events(self, batch: Sequence[IndexRecord]) -> dict[str, Read]:
        """Each response's own events and request."""
        reads = {r.rid: Read() for r in batch}
        for part, records in _by_partition(batch).items():
            await self._stream(self.settings.events_topic, part, records, reads, RAW)
            await self._requests(part, records, reads)
        return reads

    async def views(self, batch: Sequence[IndexRecord], reads: dict[str, Read]) -> None:
        """The events of the responses' views (read again, whole, on every call)."""
        for part, records in _by_partition(batch).items():
            names = sorted({v for r in records for v in r.views})
            for name in names:
                having = [r for r in records if name in r.views]
                for r in having:
                    reads[r.rid].streams.pop(name, None)
                await self._stream(self.settings.view_topic(name), part, having, reads, name)

    async def _stream(
        self, topic: str, part: int, records: list[IndexRecord], reads: dict[str, Read],
        stream: str,
    ) -> None:  # fmt: skip
        consumer = self._started()
        tp = TopicPartition(topic, part)
        async with asyncio.timeout(READ_TIMEOUT_S):
            begin = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            firsts = [r.first for r in records if stream == RAW and r.first is not None]
            unplaced = [r for r in records if stream != RAW or r.first is None]
            if unplaced:
                firsts.append(await self._since(tp, min(r.created for r in unplaced), end))
            for r in records:
                if stream == RAW and r.first is not None and r.first < begin:
                    reads[r.rid].gone = True
            orders = {r.rid.encode(): (r.rid, Order()) for r in records}
            waiting = set(orders)
            position = max(begin, min(firsts))
            if position >= end:
                return
            async with consumers.reading(consumer, tp, position):
                while position < end and waiting:
                    batch = await consumer.getmany(tp, timeout_ms=500, max_records=FETCH_RECORDS)
                    for rec in batch.get(tp, []):
                        if rec.offset >= end:
                            return
                        held = orders.get(rec.key) if rec.key is not None else None
                        if held is None or rec.value is None:
                            continue
                        try:
                            event = events.decode(rec.value)
                        except DecodeError:
                            continue  # the edges dead-letter it; readers skip it too
                        rid, order = held
                        if event.rid == rid and order.accept(event):
                            reads[rid].streams.setdefault(stream, []).append((event, rec.value))
                            if order.final:
                                waiting.discard(rec.key)
                    position = await consumer.position(tp)

    async def _requests(
        self, part: int, records: list[IndexRecord], reads: dict[str, Read]
    ) -> None:
        """The generation requests, written beside each response's `open` (none for an SDK
        response): a time seek, read until a little past the latest creation time."""
        consumer = self._started()
        tp = TopicPartition(self.settings.requests_topic, part)
        async with asyncio.timeout(READ_TIMEOUT_S):
            end = (await consumer.end_offsets([tp]))[tp]
            position = await self._since(tp, min(r.created for r in records), end)
            stop_ts = max(r.created for r in records) + CLOCK_SKEW_MS
            wanted = {r.rid.encode(): r.rid for r in records}
            if position >= end:
                return
            async with consumers.reading(consumer, tp, position):
                while position < end and wanted:
                    batch = await consumer.getmany(tp, timeout_ms=500, max_records=FETCH_RECORDS)
                    for rec in batch.get(tp, []):
                        if rec.offset >= end or rec.timestamp > stop_ts:
                            return
                        rid = wanted.pop(rec.key, None) if rec.key is not None else None
                        if rid is None:
                            continue
                        try:
                            request = requests.decode(rec.value)
                        except DecodeError:
                            continue
                        if request.rid == rid:
                            reads[rid].request = request.to_dict()
                    position = await consumer.position(tp)

    async def _since(self, tp: TopicPartition, created_ms: float, end: int) -> int:
        consumer = self._started()
        since = max(0, int(created_ms) - CLOCK_SKEW_MS)
        found = (await consumer.offsets_for_times({tp: since}))[tp]
        return end if found is None else int(found.offset)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("Collector.start() first")
        return self._consumer


def _by_partition(batch: Sequence[IndexRecord]) -> dict[int, list[IndexRecord]]:
    out: dict[int, list[IndexRecord]] = defaultdict(list)
    for r in batch:
        out[r.partition].append(r)
    return out
