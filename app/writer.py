"""A response's single writer (`ResponseWriter`, made by `Publisher.response`, app/producer.py):
assigns `seq`, coalesces text into `delta` events while the previous record is in flight, and
writes exactly one terminal event, then the response's terminal index record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError

from app import events
from app.contract import index
from app.contract.index import IndexRecord
from app.errors import UpstreamError, WriteFailed
from app.events import Event
from app.ids import created_ms, partition_for
from app.summary import Tally
from app.usage import Usage

if TYPE_CHECKING:
    from app.producer import Publisher

log = logging.getLogger(__name__)
# A coalesced delta stops growing here (a writer looping without awaiting would otherwise make
# one record larger than Kafka accepts); the next piece starts the next delta.
MAX_DELTA_CHARS = 16_384


class _Pending:
    """An event not sent yet; consecutive deltas of one source gather in `parts`."""

    __slots__ = ("type", "source", "ts", "parts", "size", "extra")

    def __init__(self, type: str, source: str, ts: float, text: str | None, extra: Any) -> None:
        self.type, self.source, self.ts, self.extra = type, source, ts, extra
        self.parts = [text] if text is not None else []
        self.size = len(text) if text is not None else 0


class ResponseWriter:
    """Writes one response: deltas and `source.done` per source, then exactly one terminal."""

    def __init__(self, publisher: Publisher, rid: str, *, announced: bool = False) -> None:
        self.publisher = publisher
        self.rid = rid
        self.partition = partition_for(rid, publisher.partitions)
        self.created = created_ms(rid) or events.now_ms()
        self.seq = 0  # last seq given
        self.stored = 0  # last seq Kafka acknowledged
        self.first: int | None = None  # offsets in <prefix>.events of its first and last event
        self.last: int | None = None
        self.last_write = self.created
        self.ended = False
        self.failed: str | None = None
        self._announced = announced
        self.views: tuple[str, ...] = ()  # named in its index records (app/contract/index.py)
        self.cached_from: str | None = None  # likewise: the response cache's source, if any
        self.conversation: dict[str, Any] | None = None  # its `open` only (app/conversation.py)
        self.tally = Tally()  # its terminal record's summary (app/summary.py)
        # Trace context for its first event record only (app/tracing.py says why), or None.
        self.trace_headers: list[tuple[str, bytes]] | None = None
        self._pending: list[_Pending] = []
        self._in_flight = 0
        self._drained: list[asyncio.Future[None]] = []
        self._beat_at = (0, 0.0)  # (stored, last_write) the last beat reported

    async def open(
        self, views: tuple[str, ...] = (), options: dict[str, Any] | None = None
    ) -> None:
        """Announce the response so readers find it before its first token; waits for Kafka.
        `views` and their `options` (app/views.parse) ask the transforms for those views."""
        self._announced = True
        self.views = tuple(views)
        await self._index(index.OPEN, options)

    def took(self) -> None:
        """Say in the index, before the first event, that this writer has the response: a
        worker given its request again by a rebalance reads that and leaves it
        (agents/generation.py). Not stored before this returns; one record per response."""
        self.last_write = events.now_ms()
        self._beat()

    async def delta(self, text: str, source: str = "answer") -> None:
        if text:
            self._add(events.DELTA, source, text)

    async def tool_call(
        self, call_id: str, name: str, arguments: Any, source: str = "answer"
    ) -> None:
        """A model's complete tool call; `arguments` parsed JSON (a string if it was not)."""
        extra = {"call_id": call_id, "name": name, "arguments": arguments}
        self._add(events.TOOL_CALL, source, extra=extra)

    async def citation(self, ref: dict[str, Any], source: str = "answer") -> None:
        """What the text written just before cites (an object: a source, a document span)."""
        self._add(events.CITATION, source, extra={"ref": ref})

    async def source_done(
        self,
        source: str = "answer",
        *,
        model: str | None = None,
        usage: Usage | None = None,
        first_token_ms: float | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """The end of one source's call; what is known of it (its model, the upstream's token
        usage, first text and duration in ms from the call's start) goes on the event and into
        the response's summary."""
        self.tally.call_done(source, model, usage, first_token_ms, duration_ms)
        extra = {
            "model": model,
            "usage": usage.to_wire() if usage is not None else None,
            "first_token_ms": _ms(first_token_ms),
            "duration_ms": _ms(duration_ms),
        }
        self._add(events.SOURCE_DONE, source, extra=extra)

    async def done(self) -> None:
        await self._finish(events.DONE, "answer", {})

    async def cancelled(self) -> None:
        await self._finish(events.CANCELLED, "answer", {})

    async def error(
        self,
        message: str,
        *,
        retriable: bool,
        code: str = UpstreamError.code,
        source: str = "answer",
        status: int | None = None,
    ) -> None:
        """End the response with `error`: `source` names the call that failed, `status` is the
        upstream's HTTP status when it gave one."""
        extra = {"retriable": retriable, "code": code, "message": message, "status": status}
        await self._finish(events.ERROR, source, extra)

    async def flush(self) -> None:
        """Wait until every event so far is stored in Kafka; WriteFailed if one was refused."""
        while (self._pending or self._in_flight) and self.failed is None:
            waiter = asyncio.get_running_loop().create_future()
            self._drained.append(waiter)
            await waiter
        if self.failed is not None:
            raise WriteFailed(f"events of {self.rid} were not stored: {self.failed}")

    async def _finish(self, type: str, source: str, extra: dict[str, Any]) -> None:
        if not self._add(type, source, extra=extra):
            await self.flush()  # already ended: nothing to write; raises if it had failed
            return
        await self.flush()
        self.publisher.writing.pop(self.rid, None)
        failed = source if type == events.ERROR else None
        summary = self.tally.summary(self.created, self.last_write, extra.get("code"), failed)
        # After the terminal event: whoever reads this record finds the event stored.
        await self._index(type, summary=summary)
        if self.publisher.on_finished is not None:
            self.publisher.on_finished(type, summary)

    def _add(self, type: str, source: str, text: str | None = None, extra: Any = None) -> bool:
        if self.ended or self.failed is not None:
            return False  # nothing after the terminal event counts anyway
        now = events.now_ms()
        self.last_write = now
        pending = self._pending
        if text is not None and pending:
            last = pending[-1]
            if (
                last.type == events.DELTA
                and last.source == source
                and last.size + len(text) <= MAX_DELTA_CHARS
            ):
                last.parts.append(text)
                last.size += len(text)
                return True
        pending.append(_Pending(type, source, now, text, extra))
        if type in events.TERMINAL_TYPES:
            self.ended = True
        if self._in_flight == 0 and len(pending) == 1:
            self.publisher.writing[self.rid] = self
            self.publisher._wake(self)
        return True

    def _send_pending(self) -> None:
        if self._in_flight or not self._pending or self.failed is not None:
            return
        pub = self.publisher
        if not self._announced:
            self._announced = True
            pub.send(pub.settings.responses_topic, self.rid, self._record(index.OPEN).encode())
        topic = pub.settings.events_topic
        batch = pub._batch(len(self._pending))
        pub.produced += len(self._pending)
        tally = self.tally
        headers, self.trace_headers = self.trace_headers, None
        for item in self._pending:
            self.seq += 1
            if item.parts:  # per record, not per token: the summary's size and first text
                tally.chars += item.size
                tally.pieces += len(item.parts)
                if tally.first_text is None:
                    tally.first_text = item.ts
            event = Event(
                rid=self.rid,
                type=item.type,
                source=item.source,
                seq=self.seq,
                ts=item.ts,
                text="".join(item.parts) if item.parts else None,
                **(item.extra or {}),
            )
            pub._produce(
                topic, self.rid, events.encode(event), self.partition,
                partial(pub._report, self, self.seq), batch, headers,
            )  # fmt: skip
            headers = None
            self._in_flight += 1
        self._pending = []

    def _stored(self, seq: int, err: KafkaError | None, offset: int) -> None:
        self._in_flight -= 1
        if err is not None:
            if self.failed is None:
                self.failed = str(err)
                log.error("event %d of %s was not stored: %s", seq, self.rid, err)
                self._pending = []
                self.publisher.writing.pop(self.rid, None)
        else:
            self.stored = max(self.stored, seq)
            self.last = offset
            if self.first is None:
                self.first = offset
        if self._in_flight == 0:
            if self._pending and self.failed is None:
                self._send_pending()
            else:
                for waiter in self._drained:
                    if not waiter.done():
                        waiter.set_result(None)
                self._drained = []

    def _beat(self) -> None:
        """Tell the watchdog this writer is alive, if anything happened since the last beat."""
        now = (self.stored, self.last_write)
        if now != self._beat_at and self.failed is None:
            self._beat_at = now
            pub = self.publisher
            pub.send(pub.settings.responses_topic, self.rid, self._record(index.BEAT).encode())

    def _record(self, state: str) -> IndexRecord:
        return IndexRecord(
            rid=self.rid,
            state=state,
            partition=self.partition,
            created=self.created,
            ts=self.last_write,
            seq=self.stored,
            first=self.first,
            last=self.last,
            views=self.views,
            cached_from=self.cached_from,
        )

    async def _index(
        self,
        state: str,
        options: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        pub = self.publisher
        record = self._record(state)
        if options or summary:
            record = dataclasses.replace(record, options=options, summary=summary)
        if state == index.OPEN and self.conversation:
            record = dataclasses.replace(record, conversation=self.conversation)
        await pub.send(pub.settings.responses_topic, self.rid, record.encode())


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
