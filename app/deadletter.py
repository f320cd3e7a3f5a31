"""Dead-letters undecodable records to <prefix>.deadletter without ever blocking a consume loop:
the edge's (events, views, stats), the generation agent's (requests) and the persist agent's
(control). Each record goes with `error` and `origin` (`<topic>/<partition>/<offset>`) headers.

One reader per topic dead-letters it: a consumer group's (requests, control, and the watchdog's
Faust topic for the index) once; the edges' (events, views, stats: every edge reads all of them)
once per edge, so consumers of the dead-letter topic dedupe by `origin` (the edge's count does).
The producer is aiokafka's and is started on the first dead letter: bad records are rare, and
the Publisher's `send` carries no headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from aiokafka import AIOKafkaProducer

from app import kafka_security
from app.contract.deadletter import DeadLetter
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
        self.dropped = 0  # over MAX_PENDING: counted and logged only

    def put(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
        reason: str,
    ) -> None:  # fmt: skip
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            log.warning("dead letter of %s/%d/%d dropped: too many pending", topic, partition,
                        offset)  # fmt: skip
            return
        letter = DeadLetter(topic, partition, offset, reason)
        self._pending.append((key, value, letter.headers()))
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
