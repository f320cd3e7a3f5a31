"""Every topic's name, partitions and retention in one place, and their creation.

events, responses, requests and the views are co-partitioned (same count, key = response id), so
response R lives in the same partition number of each (app/ids.partition_for).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from app import kafka_security, views
from app.settings import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def specs(settings: Settings) -> list[TopicSpec]:
    retention = {"retention.ms": str(settings.retention_ms)}
    p = settings.partitions
    return [
        TopicSpec(settings.events_topic, p, retention),
        TopicSpec(settings.requests_topic, p, retention),
        # Cancels; every worker reads all of it, so its partitioning carries no meaning.
        TopicSpec(settings.control_topic, p, retention),
        # One record per response state change; compaction keeps the latest per id.
        # Segments roll hourly so compaction really runs (the default segment is a week).
        TopicSpec(
            settings.responses_topic,
            p,
            {**retention, "cleanup.policy": "compact,delete", "segment.ms": "3600000"},
        ),
        TopicSpec(settings.deadletter_topic, 1, retention),
        # Per-model stats partials (agents/stats.py), at most one record a second per key;
        # compaction keeps the latest of each, a day of retention drops minutes long past.
        TopicSpec(
            settings.stats_topic,
            1,
            {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(DAY_MS),
                "segment.ms": "3600000",
            },
        ),
        # Transform outputs, one topic per view, co-partitioned with events.
        *(TopicSpec(settings.view_topic(name), p, retention) for name in views.names()),
    ]


async def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create every topic that does not exist yet; existing ones are left as they are.

    Returns each topic's partition count as Kafka has it.
    """
    admin = AIOKafkaAdminClient(**kafka_security.aiokafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(s.name, s.partitions, settings.replication, topic_configs=s.config)
            for s in specs(settings)
            if s.name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process won the race: fine
        names = [s.name for s in specs(settings)]
        for _ in range(100):  # a just-created topic takes a moment to show its partitions
            found = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
            if all(found.get(name) for name in names):
                return found
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topics not ready in Kafka: {found}")
    finally:
        await admin.close()
