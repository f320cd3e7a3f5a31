"""The writer SDK: a response's single writer assigns `seq` and publishes client-facing events
straight to <prefix>.events, the one Kafka hop of the live path.

One `Publisher` per process (here); one `ResponseWriter` per response (app/writer.py). The
first piece of a response goes out at once; text that arrives while that response's previous
record is in flight, or within the same loop tick, joins one `delta` (its `ts` is the first
piece's). librdkafka rather than aiokafka because its `produce` measured ~14 µs a record here
against aiokafka's ~80 µs; delivery reports are served by a thread and handed to the event loop
a batch at a time.

Two librdkafka producers: one sends at once (linger 0), one batches across responses
(`writer_linger_ms`). Events take the batching one only while the process is busy (app/load.py):
quiet, a 5 ms linger was most of a token's way to its reader (p50 6.7 ms at 10 responses) and of
a POST's answer (two records, 20 ms); busy, batches cut the broker's cost per record. Switching
never reorders a response: its next events are sent only once Kafka acknowledged the previous
ones. Index and request records (a few per response) always go at once, from one producer, so
they stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from app import kafka_security
from app.errors import WriteFailed
from app.ids import new_response_id, partition_for
from app.load import Load
from app.settings import Settings
from app.writer import ResponseWriter

log = logging.getLogger(__name__)
POLL_S = 0.05
STOP_FLUSH_S = 10.0
# One delivery report: (a ResponseWriter and its seq, or a future and 0; error; offset).
Report = tuple[Any, int, KafkaError | None, int]
# The largest record the writer's producers send (librdkafka's default, made explicit): the
# edge refuses a request whose record would not fit (413) before sending anything.
MAX_RECORD_BYTES = 1_000_000
RECORD_OVERHEAD = 4096  # key, headers and the record's framing, generously

_NO_HEADERS: dict[str, Any] = {}

__all__ = ["Publisher", "ResponseWriter", "WriteFailed", "new_response_id"]


def too_large(exc: BaseException) -> bool:
    """Whether a send failed because its record is over a Kafka size limit (librdkafka's own,
    at once, or the broker's)."""
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    code = getattr(exc.args[0], "code", lambda: None)()
    # librdkafka refuses an oversized record itself with the broker's code; there is no local
    # `_MSG_SIZE_TOO_LARGE` (naming one raised AttributeError for every other Kafka fault).
    return bool(code == KafkaError.MSG_SIZE_TOO_LARGE)


class Publisher:
    def __init__(self, settings: Settings, client_id: str = "tokenrelay-writer") -> None:
        self.settings = settings
        self.client_id = client_id
        self.partitions = settings.partitions  # replaced by the topic's real count at start
        self._producer: Producer | None = None  # at once
        self._batching: Producer | None = None  # events, while busy
        self.load = Load()
        self.clock = time.monotonic  # what the load is judged by (tests set their own)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pollers: list[threading.Thread] = []
        self._closing = False
        # Delivery reports, appended by the poll threads, taken by the event loop (_drain).
        self._reports: deque[Report] = deque()
        self._dirty: dict[ResponseWriter, None] = {}
        self._scheduled = False
        self.writing: dict[str, ResponseWriter] = {}  # responses not ended yet: beats go to these
        # Told of every response a writer ends (its type and summary): the worker's metrics.
        self.on_finished: Callable[[str, dict[str, Any]], None] | None = None
        self._beats: asyncio.Task[None] | None = None
        self._last_error: KafkaError | None = None
        self.produced = 0  # event records handed to librdkafka (the worker's metrics read it)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._producer = self._new_producer(0)
        self._batching = self._new_producer(self.settings.writer_linger_ms)
        self._pollers = [
            threading.Thread(target=self._poll, args=(p,), name="tokenrelay-delivery", daemon=True)
            for p in (self._producer, self._batching)
        ]
        for poller in self._pollers:
            poller.start()
        try:
            self.partitions = await self._loop.run_in_executor(None, self._events_partitions)
        except BaseException:
            # Never started, so never stopped: end the poll threads here, or they and their
            # producers would go on reconnecting for as long as the process lives.
            self._closing = True
            for poller in self._pollers:
                await self._loop.run_in_executor(None, poller.join)
            self._producer = self._batching = None
            raise
        self._beats = asyncio.create_task(self._beat_forever())

    def _new_producer(self, linger_ms: float) -> Producer:
        return Producer(
            {
                **kafka_security.librdkafka_config(self.settings),
                "client.id": self.client_id,
                "enable.idempotence": True,  # in order, no duplicates, acks=all
                "linger.ms": linger_ms,
                "partitioner": "murmur2_random",  # keyed sends land where Java clients put them
                "socket.nagle.disable": True,
                "error_cb": self._kafka_error,
                "message.max.bytes": MAX_RECORD_BYTES,
                # librdkafka's own lines through Python logging (app/logs.py's format), not
                # straight to stderr; they are handed over by the poll threads.
                "logger": logging.getLogger("librdkafka"),
            }
        )

    def _kafka_error(self, err: KafkaError) -> None:
        # In a poll thread. Kept for start's message: a refused login or certificate otherwise
        # surfaces only as "Broker transport failure" (librdkafka retries those forever).
        # "All brokers down" follows each such error and would hide its cause.
        if err.code() != KafkaError._ALL_BROKERS_DOWN:
            self._last_error = err

    async def stop(self) -> None:
        if self._producer is None or self._batching is None or self._loop is None:
            return
        if self._beats is not None:
            self._beats.cancel()
            await asyncio.gather(self._beats, return_exceptions=True)
        self._closing = True
        for poller in self._pollers:
            await self._loop.run_in_executor(None, poller.join)
        # With the poll threads gone, flush's own callbacks fill _reports from this one thread.
        for producer in (self._batching, self._producer):
            await self._loop.run_in_executor(None, producer.flush, STOP_FLUSH_S)
        self._drain()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def response(self, rid: str | None = None, *, announced: bool = False) -> ResponseWriter:
        """The writer of one response. `announced`: its `open` index record exists already
        (the edge wrote it when the response was created)."""
        return ResponseWriter(self, rid or new_response_id(), announced=announced)

    def send(
        self, topic: str, key: str, value: bytes, partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[int]:  # fmt: skip
        """Queue one record; the future resolves to its offset once Kafka stored it."""
        assert self._loop is not None, "Publisher not started"
        future: asyncio.Future[int] = self._loop.create_future()
        if partition is None:
            partition = partition_for(key, self.partitions)
        report = partial(self._report, future, 0)
        self._produce(topic, key, value, partition, report, False, headers)
        return future

    def queued(self) -> int:
        """Records waiting in librdkafka for Kafka's acknowledgement (thread-safe)."""
        return sum(len(p) for p in (self._producer, self._batching) if p is not None)

    def _produce(
        self, topic: str, key: str, value: bytes, part: int, report: Any, batch: bool = False,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:  # fmt: skip
        producer = self._batching if batch else self._producer
        assert producer is not None, "Publisher not started"
        # Trace context (app/tracing.py) only where there is some (a few records per response):
        # every other record's call stays exactly as it was.
        extra = {"headers": headers} if headers else _NO_HEADERS
        try:
            producer.produce(topic, value, key, part, on_delivery=report, **extra)
        except BufferError:
            # librdkafka's queue is full (the broker is far behind): wait for room, once.
            producer.poll(1.0)
            producer.produce(topic, value, key, part, on_delivery=report, **extra)

    def _report(self, target: Any, seq: int, err: KafkaError | None, msg: Message) -> None:
        # In a poll thread (or the loop's own, on a full queue): only record it. One deque for
        # the process's life, appended here and popped only by the loop: each is atomic. It was
        # a list swapped for a fresh one by whichever poll thread handed reports over; a report
        # the other thread appended to the list it had just looked up, after the loop had
        # applied that list, was lost, and its writer waited for it for ever (two responses
        # stuck mid-stream in 12 minutes of a soak on a loaded machine; the watchdog ended them).
        self._reports.append((target, seq, err, msg.offset() or 0))

    def _poll(self, producer: Producer) -> None:
        assert self._loop is not None
        while not self._closing:
            producer.poll(POLL_S)
            if self._reports:
                try:
                    self._loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is gone: nobody is waiting any more
                    return

    def _drain(self) -> None:
        """In the event loop: apply every report there is (none, if an earlier call took them)."""
        reports = self._reports
        self._delivered([reports.popleft() for _ in range(len(reports))])

    def _delivered(self, reports: list[Report]) -> None:
        for target, seq, err, offset in reports:
            if isinstance(target, ResponseWriter):
                target._stored(seq, err, offset)
            elif not target.done():
                if err is None:
                    target.set_result(offset)
                else:
                    target.set_exception(KafkaException(err))

    def _wake(self, writer: ResponseWriter) -> None:
        self._dirty[writer] = None
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, {}
        for writer in dirty:
            writer._send_pending()

    def _batch(self, records: int) -> bool:
        """Whether `records` events about to be sent go to the batching producer: the load
        they add to says the process is busy."""
        self.load.count(records, self.clock())
        return self.load.busy

    def _events_partitions(self) -> int:
        assert self._producer is not None
        topic = self.settings.events_topic
        try:
            found = self._producer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            last = self._last_error
            raise KafkaException(
                f"cannot reach Kafka at {self.settings.kafka} "
                f"({self.settings.kafka_security_protocol}): {last.str() if last else exc}"
            ) from exc
        if found is None or found.error is not None or not found.partitions:
            return self.settings.partitions
        return len(found.partitions)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.writer_beat_s)
            for writer in list(self.writing.values()):
                writer._beat()
