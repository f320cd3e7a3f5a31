"""A small pool of aiokafka consumers shared by catch-up reads and on-demand lookups.

A user borrows one for one chunk of work (assign, seek, a few fetches) and gives it back before
yielding to its client, so a slow client never holds a consumer. A consumer that failed is
stopped and replaced, never handed out again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer

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
            consumer = self._idle.pop() if self._idle else await self._new()
            try:
                yield consumer
            except Exception:
                # Its connection or state may be broken (a broker restart): don't reuse it.
                await _stop(consumer)
                raise
            except BaseException:
                # Cancelled (the client left): the consumer itself is fine.
                self._give_back(consumer)
                raise
            self._give_back(consumer)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_stop(c) for c in idle))

    def _give_back(self, consumer: AIOKafkaConsumer) -> None:
        # Unassigned, its fetcher stops prefetching for a partition nobody reads now.
        consumer.unsubscribe()
        if self._closed:
            asyncio.get_running_loop().create_task(_stop(consumer))
        else:
            self._idle.append(consumer)

    async def _new(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=4 << 20,
            request_timeout_ms=10_000,
            client_id="tokenrelay-edge-catchup",
        )
        await consumer.start()
        return consumer


async def _stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except Exception as exc:  # it is being dropped anyway
        log.debug("stopping a catch-up consumer failed: %r", exc)
