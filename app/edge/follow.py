"""The edge's consumers that follow topics from their ends (fanout.py reads through them).

No history is preloaded: a consumer is assigned every partition of its topics at their ends,
resolved now, so /healthz is only live once nothing written from here on can be missed. Older
responses are looked up (lookup.py) or read back by catch-up reads (history.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from app import consumers, kafka_security
from app.edge.pace import QUIET_WAIT_MS
from app.settings import Settings

log = logging.getLogger(__name__)
Positions = dict[TopicPartition, int]  # per partition, the next offset a consumer hands over


async def from_end(
    s: Settings, topics: tuple[str, ...], partitions: dict[str, int], positions: Positions
) -> AIOKafkaConsumer:
    """A started consumer assigned every partition of `topics`, at their ends."""
    consumer = AIOKafkaConsumer(
        **kafka_security.aiokafka_options(s),
        enable_auto_commit=False,
        fetch_max_wait_ms=QUIET_WAIT_MS,
        max_partition_fetch_bytes=4 << 20,
        client_id="tokenrelay-edge",
    )
    await consumers.start(consumer)
    tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions[topic])]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, ends[tp])
        positions[tp] = ends[tp]
    return consumer


async def fetch(consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
    """The next batch; aiokafka reconnects by itself, so a fetch error must not end a reader."""
    while True:
        try:
            batch: dict[TopicPartition, list[Any]] = await consumer.getmany(
                timeout_ms=1000, max_records=5000
            )
            return batch
        except KafkaError as exc:
            log.warning("fetch failed, retrying: %r", exc)
            await asyncio.sleep(1.0)


def lag(followers: list[AIOKafkaConsumer | None], positions: Positions) -> dict[str, int]:
    """Records in Kafka not yet read, per topic: each partition's high watermark (as of the
    last fetch) minus the position reached. Computed at scrape time."""
    out: dict[str, int] = {}
    for consumer in followers:
        if consumer is None:
            continue
        for tp in consumer.assignment():
            high, pos = consumer.highwater(tp), positions.get(tp)
            if high is not None and pos is not None:
                out[tp.topic] = out.get(tp.topic, 0) + max(0, high - pos)
    return out
