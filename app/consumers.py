"""consumers.start(consumer): start an aiokafka consumer, stopping it if that fails;
consumers.stop(consumer): stop an aiokafka consumer whatever state a broker fault left it in;
consumers.reading(consumer, tp, offset): a read of one partition that gives the partition back;
consumers.keyed(consumer, tp, end, key): one key's records of an assigned partition, up to `end`.

aiokafka 0.14's `Fetcher.close` cancels its own fetch tasks and then awaits them, so a consumer
stopped while a fetch was backing off after a broker fault raises CancelledError out of
`stop()` although nobody cancelled the caller. In a catch-up read that ended the client's
stream as if the edge were shutting down (no fault counted, the broker-restart test failed one
run in two). This tells the two apart: the caller's own cancellation still propagates.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger(__name__)


async def start(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    """A consumer that fails to start (Kafka unreachable) is stopped before the error goes on:
    dropped as it was, it kept its client's connections and tasks until collected, and every
    retry of a reader that restarts itself (stats, dead letters, cancels) left one more."""
    try:
        await consumer.start()
    except BaseException:
        await stop(consumer)
        raise
    return consumer


async def stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the caller is being cancelled
        log.debug("stopping a consumer: its own fetch tasks raised CancelledError")
    except Exception as exc:  # it is being dropped anyway
        log.debug("stopping a consumer failed: %r", exc)


@asynccontextmanager
async def reading(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> AsyncIterator[None]:
    """Assign `tp` at `offset` for one read, and unassign it after. A consumer left assigned
    goes on prefetching (and parsing, in Python) every new record of that partition for as
    long as it lives: the persist agent's reader and the side reader were left so after their
    first read. (No latency change measured at 500 x 30 from this alone.) The read must await
    before it ends: assigned and given back with no await between, aiokafka 0.14 loses the
    fetcher task."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    try:
        yield
    finally:
        consumer.unsubscribe()


async def keyed(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    end: int,
    key: bytes,
    *,
    until_ms: float = math.inf,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """`key`'s records of `tp`, already assigned and positioned, in offset order, up to offset
    `end` or the first record (of any key) written after `until_ms` (log time). The side reads
    (a response's events, an id's index records) share this loop; the caller stops early by
    leaving it."""
    await asyncio.sleep(0)  # an await before the read can end (reading(), pool.read_from)
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
        for record in batch.get(tp, []):
            if record.offset >= end or record.timestamp > until_ms:
                return
            if record.key == key:
                yield record
