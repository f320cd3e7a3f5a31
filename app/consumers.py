"""consumers.stop(consumer): stop an aiokafka consumer whatever state a broker fault left it in;
consumers.reading(consumer, tp, offset): a read of one partition that gives the partition back.

aiokafka 0.14's `Fetcher.close` cancels its own fetch tasks and then awaits them, so a consumer
stopped while a fetch was backing off after a broker fault raises CancelledError out of
`stop()` although nobody cancelled the caller. In a catch-up read that ended the client's
stream as if the edge were shutting down (no fault counted, the broker-restart test failed one
run in two). This tells the two apart: the caller's own cancellation still propagates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)


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
