"""`tokenrelay publish --id RID`: standard input as a response's text, written by the producer
SDK, after a check that no response has that id yet.

A response has one writer, and it numbers its events from 1 (app/producer.py), so a second
writer of the same id would write seq 1, 2, ... again: readers drop those as copies and the
new text is lost while the command reports success. The check is a side read of the id's
partition of the index (<prefix>.responses, compacted: about one record per response, the same
search an edge makes for an id it never saw), rather than the edge's snapshot: publish needs
only Kafka, as before, and a new id costs no wait for the edge's 404 (`EDGE_UNKNOWN_WAIT_MS`).
Not covered: a response only storage still holds (past Kafka's retention), and two publishers
of one new id racing between check and `open`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, ids, kafka_security
from app.contract import index
from app.contract.index import IndexRecord
from app.errors import DecodeError
from app.producer import Publisher
from app.settings import Settings
from app.topics import ensure_topics

CLOCK_SKEW_MS = 5_000  # writer and broker clocks may disagree: a time seek starts this early
CHECK_TIMEOUT_S = 30.0


async def publish(settings: Settings, rid: str, source: str, lines: TextIO) -> int:
    """0 once the text is stored and the response ended `done`; 1 (and why, on stderr) if the id
    is taken."""
    partitions = await ensure_topics(settings)
    topic = settings.responses_topic
    found = await find(settings, rid, partitions[topic])
    if found is not None:
        what = f"already ended ({found.state})" if found.terminal else "is already being written"
        print(
            f"tokenrelay publish: response {rid!r} {what}; a response has one writer and is "
            "written once: publish under a new --id",
            file=sys.stderr,
        )
        return 1
    async with Publisher(settings) as publisher:
        writer = publisher.response(rid)
        await writer.open()
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, lines.readline):
            await writer.delta(line, source=source)
        await writer.source_done(source)
        await writer.done()
    return 0


async def find(settings: Settings, rid: str, partitions: int) -> IndexRecord | None:
    """The latest index record of `rid` in Kafka (its terminal one if it ended), or None."""
    tp = TopicPartition(settings.responses_topic, ids.partition_for(rid, partitions))
    consumer = AIOKafkaConsumer(
        **kafka_security.aiokafka_options(settings),
        enable_auto_commit=False,
        client_id="tokenrelay-publish",
    )
    await consumers.start(consumer)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await _scan(consumer, tp, rid)
    finally:
        await consumers.stop(consumer)


async def _scan(consumer: AIOKafkaConsumer, tp: TopicPartition, rid: str) -> IndexRecord | None:
    end = (await consumer.end_offsets([tp]))[tp]
    created = ids.created_ms(rid)
    if created is None:  # an id of the user's own: the whole (compacted) partition
        start = (await consumer.beginning_offsets([tp]))[tp]
    else:
        found = (await consumer.offsets_for_times({tp: max(0, int(created) - CLOCK_SKEW_MS)}))[tp]
        start = end if found is None else found.offset
    if start >= end:
        return None
    latest = None
    async with consumers.reading(consumer, tp, start):
        async for record in consumers.keyed(consumer, tp, end, rid.encode()):
            try:
                latest = index.decode(record.value)
            except DecodeError:
                continue
            if latest.terminal:
                return latest
    return latest
