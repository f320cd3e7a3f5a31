"""The producer SDK: what a model caller uses to publish a response's tokens to Kafka.

One `Publisher` (one Kafka producer) per process; one `ResponseWriter` per response. Writes go
out at once (linger_ms=0) and in order (idempotent producer), keyed by response id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from types import TracebackType

from aiokafka import AIOKafkaProducer

from app import events
from app.events import Event
from app.settings import Settings


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(12)


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            client_id="tokenrelay-publisher",
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def response(self, rid: str | None = None) -> ResponseWriter:
        return ResponseWriter(self, rid or new_response_id())

    async def send(self, topic: str, key: str, value: bytes) -> asyncio.Future[object]:
        """Queue one message; the returned future resolves when Kafka has it."""
        return await self._producer.send(topic, value=value, key=key.encode())


class ResponseWriter:
    """Writes one response: `open`, then deltas per source, then exactly one terminal."""

    def __init__(self, publisher: Publisher, rid: str) -> None:
        self.publisher = publisher
        self.rid = rid
        self._n: dict[str, int] = {}
        self._last: asyncio.Future[object] | None = None

    async def open(self) -> None:
        """Announce the response so readers can find it before its first token; waits for Kafka."""
        await self._write(Event(rid=self.rid, type=events.OPEN))
        await self.flush()

    async def delta(self, text: str, source: str = "answer") -> None:
        if text:
            await self._write(Event(rid=self.rid, type=events.DELTA, source=source, text=text))

    async def source_done(self, source: str = "answer") -> None:
        await self._write(Event(rid=self.rid, type=events.SOURCE_DONE, source=source))

    async def done(self) -> None:
        await self._finish(Event(rid=self.rid, type=events.DONE))

    async def cancelled(self) -> None:
        await self._finish(Event(rid=self.rid, type=events.CANCELLED))

    async def error(
        self,
        message: str,
        *,
        retriable: bool,
        code: str = "upstream_error",
        source: str = "answer",
        status: int | None = None,
    ) -> None:
        """End the response with `error`: `source` names the call that failed, `status` is the
        upstream's HTTP status when it gave one."""
        await self._finish(
            Event(
                rid=self.rid,
                type=events.ERROR,
                source=source,
                retriable=retriable,
                code=code,
                message=message,
                status=status,
            )
        )

    async def flush(self) -> None:
        """Wait until every write so far is stored in Kafka."""
        if self._last is not None:
            await self._last

    async def _finish(self, event: Event) -> None:
        await self._write(event)
        await self.flush()

    async def _write(self, event: Event) -> None:
        # n numbers each source's writes so the sequencer can drop a replayed duplicate.
        # `open` is idempotent by itself and may come from another process (the edge).
        n = None
        if event.type != events.OPEN:
            n = self._n.get(event.source, 0) + 1
            self._n[event.source] = n
        stamped = dataclasses.replace(event, ts=events.now_ms(), n=n)
        self._last = await self.publisher.send(
            self.publisher.settings.tokens_topic, self.rid, events.encode(stamped)
        )
