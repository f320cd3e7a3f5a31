"""The worker's committed input position runs ahead of what it sequenced (as faust can leave it
after a crash or rebalance): the sequencer's takeover replay still sequences every input."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from app.producer import Publisher

from .kafkautil import partition_of
from .procs import Stack, up
from .sse import assert_contiguous, client_for, delta_text, read_all

pytestmark = pytest.mark.integration


async def commit_ahead(stack: Stack, partition: int, offset: int) -> None:
    """Commit `offset` for the worker's consumer group, as a buggy consumer would."""
    s = stack.settings
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.kafka, group_id=f"{s.topic_prefix}-worker", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(s.tokens_topic, partition)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_inputs_behind_a_committed_position_are_sequenced(stack: Stack) -> None:
    edge = await up(stack)
    worker = next(p for p in stack.procs if p.name.startswith("worker"))
    rid = "gap-1"
    partition = partition_of(rid, stack.settings.partitions)
    async with Publisher(stack.settings) as publisher, client_for(edge.url) as client:
        writer = publisher.response(rid)
        await writer.open()
        for i in range(100):
            await writer.delta(f"a{i:03d} ")
        await writer.flush()
        await asyncio.sleep(2)  # sequenced and committed by the worker
        worker.kill()
        for i in range(100):
            await writer.delta(f"b{i:03d} ")
        await writer.flush()
        # Step the group's position over all of the b-inputs but the last ten.
        ends = await _end_offset(stack, partition)
        await asyncio.sleep(stack.settings.worker_session_timeout_s + 1)  # dead member gone
        await commit_ahead(stack, partition, ends - 10)
        await stack.worker()
        await writer.done()
        got = await read_all(client, rid, wait_known_s=10, timeout_s=60)
    assert_contiguous(got.events)
    expected = "".join(f"a{i:03d} " for i in range(100)) + "".join(f"b{i:03d} " for i in range(100))
    assert delta_text(got.events) == expected


async def _end_offset(stack: Stack, partition: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.settings.kafka)
    await consumer.start()
    try:
        tp = TopicPartition(stack.settings.tokens_topic, partition)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()
