"""Dead-letters undecodable records of <prefix>.events without ever blocking the consume loop.

Each edge reads every record, so several edges may dead-letter the same one: consumers of the
dead-letter topic dedupe by the `origin` header (`<topic>/<partition>/<offset>`). The producer
is aiokafka's and is started on the first dead letter: bad records are rare, and the Publisher's
`send` carries no headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from aiokafka import AIOKafkaProducer

from app import kafka_security
from app.settings import Settings

log = logging.getLogger(__name__)
# Dead letters waiting to be sent; beyond this they are only counted and logged (a flood of
# garbage must not grow the edge's memory).
MAX_PENDING = 1000

Letter = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


class DeadLetters:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pending: deque[Letter] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def put(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
        reason: str,
    ) -> None:  # fmt: skip
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        headers = [
            ("error", reason[:500].encode()),
            ("origin", f"{topic}/{partition}/{offset}".encode()),
        ]
        self._pending.append((key, value, headers))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        producer = AIOKafkaProducer(**kafka_security.aiokafka_options(self.settings), acks="all")
        await producer.start()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                sent = []
                while self._pending:
                    key, value, headers = self._pending.popleft()
                    sent.append(
                        await producer.send(
                            self.settings.deadletter_topic, value, key=key, headers=headers
                        )
                    )
                for result in await asyncio.gather(*sent, return_exceptions=True):
                    if isinstance(result, BaseException):
                        log.warning("dead letter not stored: %r", result)
        finally:
            await producer.stop()
