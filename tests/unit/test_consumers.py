"""consumers.stop: a CancelledError that aiokafka's stop() raises from its own fetch tasks is
swallowed; the caller's own cancellation is not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import consumers


class Consumer:
    """Stops as aiokafka 0.14 does after a broker fault: awaits its own cancelled fetch task."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.hold_s = hold_s

    async def stop(self) -> None:
        fetch = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(self.hold_s)
        fetch.cancel()
        await fetch


async def test_its_own_cancelled_tasks_do_not_cancel_the_caller() -> None:
    consumer: Any = Consumer()
    await consumers.stop(consumer)  # returns: nothing cancelled the caller
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def test_the_callers_cancellation_still_propagates() -> None:
    consumer: Any = Consumer(hold_s=5.0)
    stopping = asyncio.create_task(consumers.stop(consumer))
    await asyncio.sleep(0.01)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping


async def test_a_consumer_that_cannot_start_is_stopped() -> None:
    # Dropped unstopped, it warned when collected (ResourceWarning: Unclosed AIOKafkaConsumer,
    # an error in a clean-clone run) and kept its client until then; the stats and dead-letter
    # readers of the edge restart themselves, so an outage left one more per retry.
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaConnectionError

    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", request_timeout_ms=1000)
    with pytest.raises(KafkaConnectionError):
        await consumers.start(consumer)
    assert consumer._closed is True  # what its __del__ checks before warning
