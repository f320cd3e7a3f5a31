"""Direct Kafka access for checks the HTTP API cannot make: raw topic reads, raw writes,
record deletion, and which partition a response id lands in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.partitioner import DefaultPartitioner

from app import consumers, kafka_security
from app.settings import Settings

Record = ConsumerRecord[bytes, bytes]


def partition_of(rid: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives key `rid`."""
    all_partitions = list(range(partitions))
    return int(DefaultPartitioner()(rid.encode(), all_partitions, all_partitions))


async def produce_raw(
    settings: Settings, topic: str, key: bytes, *values: bytes | None
) -> list[str]:
    """Write `values` (None: a null value) as they are; their origins, `topic/partition/offset`,
    as a dead letter names them."""
    producer = AIOKafkaProducer(**kafka_security.aiokafka_options(settings), acks="all")
    await producer.start()
    origins = []
    try:
        for value in values:
            meta = await producer.send_and_wait(topic, value=value, key=key)
            origins.append(f"{topic}/{meta.partition}/{meta.offset}")
    finally:
        await producer.stop()
    return origins


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[Record]], bool],
    timeout_s: float = 30.0,
    read_committed: bool = False,
) -> list[Record]:
    """Read every partition of `topic` from the beginning until `until(records)` holds or
    `timeout_s` passes (then returns what it has; the caller's assertion says what was missing)."""
    consumer = AIOKafkaConsumer(
        **kafka_security.aiokafka_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed" if read_committed else "read_uncommitted",
    )
    await consumers.start(consumer)
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout_s
        partitions: list[int] = []
        while not partitions:
            partitions = await topic_partitions(settings, topic)
            if not partitions:
                if time.monotonic() > deadline:
                    return records
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not until(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(*tps, timeout_ms=500)
            for tp_records in batch.values():
                records.extend(tp_records)
        return records
    finally:
        await consumer.stop()


async def topic_partitions(settings: Settings, topic: str) -> list[int]:
    """The partition numbers of `topic`, [] while it does not exist."""
    admin = AIOKafkaAdminClient(**kafka_security.aiokafka_options(settings))
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0:
        return []
    return sorted(p["partition"] for p in described["partitions"])


async def delete_all_records(settings: Settings, topic: str) -> dict[int, int]:
    """Delete every record now in `topic` (all partitions); returns partition -> new low mark."""
    admin = AIOKafkaAdminClient(**kafka_security.aiokafka_options(settings))
    await admin.start()
    consumer = AIOKafkaConsumer(
        **kafka_security.aiokafka_options(settings), enable_auto_commit=False
    )
    await consumers.start(consumer)
    try:
        partitions = await topic_partitions(settings, topic)
        assert partitions, f"topic {topic} has no partitions"
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        low = await admin.delete_records(
            {tp: RecordsToDelete(before_offset=ends[tp]) for tp in tps}, timeout_ms=10_000
        )
        return {tp.partition: offset for tp, offset in low.items()}
    finally:
        await consumer.stop()
        await admin.close()
