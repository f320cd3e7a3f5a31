"""consumers.stop(consumer): stop an aiokafka consumer whatever state a broker fault left it in.

aiokafka 0.14's `Fetcher.close` cancels its own fetch tasks and then awaits them, so a consumer
stopped while a fetch was backing off after a broker fault raises CancelledError out of
`stop()` although nobody cancelled the caller. In a catch-up read that ended the client's
stream as if the edge were shutting down (no fault counted, the broker-restart test failed one
run in two). This tells the two apart: the caller's own cancellation still propagates.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

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
