"""A small pool of aiokafka consumers shared by catch-up reads and on-demand lookups.

A user borrows one for one chunk of work (offset look-ups, then `read_from`, a few fetches) and
gives it back before yielding to its client, so a slow client never holds a consumer. A consumer
that failed is stopped and replaced, never handed out again.

A borrowed consumer is unassigned: look offsets up first, then assign and seek in one step.
Assigned without a position, aiokafka's fetcher starts a fetch at once from the reset position
(the log's end), which the broker holds for fetch_max_wait_ms; a broker answers one connection's
requests in order, so every look-up after it waited that long (~50 ms of each catch-up read).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, kafka_security
from app.settings import Settings

log = logging.getLogger(__name__)


class ConsumerPool:
    def __init__(self, settings: Settings, size: int) -> None:
        self.settings = settings
        self.size = max(1, size)
        self._slots = asyncio.Semaphore(self.size)
        self._idle: list[AIOKafkaConsumer] = []
        self._closed = False

    @asynccontextmanager
    async def consumer(self) -> AsyncIterator[AIOKafkaConsumer]:
        async with self._slots:
            consumer = self._reusable() or await self._new()
            try:
                yield consumer
            except Exception:
                # Its connection or state may be broken (a broker restart): don't reuse it.
                await consumers.stop(consumer)
                raise
            except BaseException:
                # Cancelled (the client left): the consumer itself is fine.
                self._give_back(consumer)
                raise
            self._give_back(consumer)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(consumers.stop(c) for c in idle))

    def _reusable(self) -> AIOKafkaConsumer | None:
        """An idle consumer whose fetcher still runs (one that died is stopped, not reused)."""
        while self._idle:
            consumer = self._idle.pop()
            task = getattr(getattr(consumer, "_fetcher", None), "_fetch_task", None)
            if task is None or not task.done():
                return consumer
            log.warning("a catch-up consumer's fetcher stopped; replacing it")
            asyncio.get_running_loop().create_task(consumers.stop(consumer))
        return None

    def _give_back(self, consumer: AIOKafkaConsumer) -> None:
        # Unassigned, its fetcher stops prefetching for a partition nobody reads now.
        consumer.unsubscribe()
        if self._closed:
            asyncio.get_running_loop().create_task(consumers.stop(consumer))
        else:
            self._idle.append(consumer)

    async def _new(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **kafka_security.aiokafka_options(self.settings),
            enable_auto_commit=False,
            # A catch-up read stops at the log's end: a fetch there has nothing to wait for,
            # and the next borrower's look-ups would queue behind it.
            fetch_max_wait_ms=5,
            max_partition_fetch_bytes=4 << 20,
            request_timeout_ms=10_000,
            client_id="tokenrelay-edge-catchup",
        )
        await consumers.start(consumer)
        return consumer


def read_from(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
    """Point a borrowed consumer at `offset` of `tp` before its fetcher can fetch anywhere else
    (no await between the two). Only when the caller fetches next: assigned and given back with
    no await between, the fetcher wakes to no assignment and its task dies (aiokafka 0.14's
    `_fetch_requests_routine` AttributeError), leaving a consumer that never fetches again."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
