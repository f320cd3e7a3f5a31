"""Cancels: every worker reads every partition of <prefix>.control (no consumer group), so a
cancel reaches the worker running the response wherever partitions have moved, and a cancel that
overtakes its request is remembered (agents/generation.py, `Generation.cancel`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, kafka_security
from app.contract import control
from app.errors import DecodeError
from app.settings import Settings
from app.topics import ensure_topics

if TYPE_CHECKING:
    from agents.generation import Generation

log = logging.getLogger(__name__)
# A cancel may overtake its request (queued behind others, or on a worker taking over), so
# each worker remembers recent cancels, and re-reads this much of the control topic at start.
CANCEL_MEMORY_S = 600.0


async def follow_control(settings: Settings, generation: Generation) -> None:
    """Read every partition of <prefix>.control (no consumer group: each worker sees every
    cancel, so it reaches the worker running the response wherever partitions have moved)."""
    while True:
        try:
            await _read_control(settings, generation)
        except Exception:  # a lost reader would silently stop every cancel: start again
            log.exception("control reader failed; restarting it")
            await asyncio.sleep(1.0)


async def _read_control(settings: Settings, generation: Generation) -> None:
    consumer = AIOKafkaConsumer(
        **kafka_security.aiokafka_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=500,  # the broker answers as soon as a cancel arrives
        client_id="tokenrelay-generation-control",
    )
    await consumers.start(consumer)
    try:
        counts = await ensure_topics(settings)  # they exist: this just answers how many
        tps = [
            TopicPartition(settings.control_topic, p) for p in range(counts[settings.control_topic])
        ]
        consumer.assign(tps)
        since = int((time.time() - CANCEL_MEMORY_S) * 1000)
        found = await consumer.offsets_for_times({tp: since for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, found[tp].offset if found[tp] else ends[tp])
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    rid = _cancel_of(record.value)
                    if rid is not None:
                        generation.cancel(rid)
    finally:
        await consumers.stop(consumer)


def _cancel_of(value: bytes | None) -> str | None:
    """The response a record cancels; None for anything else (the persist group, which reads
    the topic once, dead-letters what is not a control record)."""
    try:
        record = control.decode(value)
    except DecodeError:
        return None
    # A cancel of a response already over is there for the audit log only.
    return record.rid if record.stops else None
