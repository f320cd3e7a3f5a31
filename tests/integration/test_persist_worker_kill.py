"""A worker SIGKILLed while its persist agent stores responses: its replacement stores each
response exactly once, with its whole event log, on SQLite and PostgreSQL.

Responses keep ending while the worker is killed, so batches are in flight. The persist group's
offsets are then rewound to the start (a crash before any commit, the worst re-delivery), and
the replacement reads every terminal record again: those stored before the kill must be found
stored and left alone, the others stored once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from app import consumers, events
from app.producer import Publisher, new_response_id
from app.settings import Settings
from app.storage.store import Store

from .conftest import on_database
from .kafkautil import topic_partitions
from .procs import Stack

pytestmark = pytest.mark.integration

RESPONSES = 40
DELTAS = 30
EVERY_S = 0.1  # a response ends every this long


@pytest.fixture
async def db_stack(stack: Stack, database_url: str) -> AsyncIterator[tuple[Stack, Store]]:
    async with on_database(stack, database_url, migrate_sqlite=True) as store:
        yield stack, store


async def publish(pub: Publisher, rid: str) -> None:
    w = pub.response(rid)
    await w.open()
    for i in range(DELTAS):
        await w.delta(f"{rid[-4:]}-{i} ")
        await w.flush()  # one event per delta: the stored log's length is known
    await w.source_done()
    await w.done()


async def rewind(settings: Settings) -> None:
    """Commit offset 0 on every partition for the persist group (its members are gone)."""
    topic = settings.responses_topic
    tps = [TopicPartition(topic, p) for p in await topic_partitions(settings, topic)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka,
        group_id=f"{settings.topic_prefix}-persist",
        enable_auto_commit=False,
    )
    await consumers.start(consumer)
    try:
        consumer.assign(tps)
        deadline = time.monotonic() + 30
        while True:
            try:
                await consumer.commit({tp: 0 for tp in tps})
                return
            except KafkaError:  # the killed member still counts until its session times out
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


async def test_worker_sigkill_while_persisting(db_stack: tuple[Stack, Store]) -> None:
    stack, store = db_stack
    settings = stack.settings
    worker = await stack.worker()
    rids = [new_response_id() for _ in range(RESPONSES)]
    async with Publisher(settings) as pub:
        tasks = []
        for rid in rids:
            tasks.append(asyncio.create_task(publish(pub, rid)))
            await asyncio.sleep(EVERY_S)
            if len(await store.stored(rids)) >= 5 and worker.alive:
                worker.kill()  # mid-stream of the later responses, mid-batch of the earlier
        await asyncio.gather(*tasks)
    assert not worker.alive, "the worker stored too few responses to be killed while storing"
    before = await store.stored(rids)
    await rewind(settings)
    replacement = await stack.worker()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(await store.stored(rids)) == RESPONSES:
            break
        await asyncio.sleep(0.3)
    assert await store.stored(rids) == set(rids)
    for rid in rids:
        row = await store.get(rid)
        log = await store.log(rid)
        assert row is not None and log is not None
        assert [events.decode(v).seq for v in log] == list(range(1, DELTAS + 3)), rid
        assert row.status == "done" and row.complete and row.last_seq == DELTAS + 2
        assert row.sources["answer"] == "".join(f"{rid[-4:]}-{i} " for i in range(DELTAS))
    # The replacement read the records of those stored before the kill again, and left them.
    assert before and "already stored" in replacement.text(), replacement.tail()
