"""Reads back the recent tail of one partition of the sequencer's output (<prefix>.events and
<prefix>.responses), so a sequencer taking over a partition after a crash starts from what is
really in the log, not from a checkpoint that may lag it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import events
from app.errors import DecodeError
from app.events import Event
from app.settings import Settings

log = logging.getLogger(__name__)


async def read_tail(settings: Settings, topic: str, partition: int) -> AsyncIterator[Event]:
    """Yield the events of the last `sequencer_recovery_ms` (by log time) of one partition."""
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
        if end <= start:
            return
        consumer.seek(tp, end - 1)
        last = await consumer.getone(tp)
        since = max(0, last.timestamp - settings.sequencer_recovery_ms)
        found = await consumer.offsets_for_times({tp: since})
        consumer.seek(tp, found[tp].offset if found[tp] else start)
        read = 0
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.offset >= end:
                    break
                read += 1
                try:
                    yield events.decode(record.value)
                except DecodeError:
                    continue  # not ours to judge here; the live path dead-letters inputs
        log.info("recovered %s from %d records", tp, read)
    finally:
        await consumer.stop()
