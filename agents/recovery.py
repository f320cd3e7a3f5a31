"""Side reads of one partition, outside Faust's consumer: the recent tail of the sequencer's
output (so a sequencer taking over starts from what is really in the log, not from a checkpoint
that may lag it) and ranges of its input (to sequence inputs the consumer stepped over).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from app.settings import Settings

log = logging.getLogger(__name__)


async def read_tail(
    settings: Settings, topic: str, partition: int
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield the records of the last `sequencer_recovery_ms` (by log time) of one partition."""
    async for record in _read(settings, topic, partition, since_ms=None, until=None):
        yield record


async def read_inputs(
    settings: Settings,
    topic: str,
    partition: int,
    until: int,
    *,
    since_ms: int | None = None,
    start: int | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield the records from log time `since_ms` (or from offset `start`) up to, not including,
    offset `until`."""
    async for record in _read(settings, topic, partition, since_ms, until, start):
        yield record


async def _read(
    settings: Settings,
    topic: str,
    partition: int,
    since_ms: int | None,
    until: int | None,
    start_at: int | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka,
        enable_auto_commit=False,
        client_id="tokenrelay-sequencer-recovery",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if until is not None:
            end = min(end, until)
        if end <= start:
            return
        if start_at is not None:
            consumer.seek(tp, max(start, start_at))
        else:
            if since_ms is None:
                consumer.seek(tp, end - 1)
                last = await consumer.getone(tp)
                since_ms = last.timestamp - settings.sequencer_recovery_ms
            found = await consumer.offsets_for_times({tp: max(0, since_ms)})
            consumer.seek(tp, found[tp].offset if found[tp] else end)
        read = 0
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.offset < end:
                    read += 1
                    yield record
        log.info("side read of %s: %d records before offset %d", tp, read, end)
    finally:
        await consumer.stop()
