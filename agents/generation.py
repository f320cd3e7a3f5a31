"""The generation agent: takes requests from <prefix>.requests, runs each response's model calls
in parallel and publishes their text through the producer SDK; a reader of <prefix>.control
stops them on cancel. Generation lives in workers, never in the edge.

Policy (ARCHITECTURE.md, "Generation"): the first call to fail ends the response with its
`error` and stops the others; a cancel ends it with `cancelled`; a stopping worker lets its
responses run on for up to TOKENRELAY_WORKER_DRAIN_S (agents/drain.py) and ends those still
running with a retriable `worker_stopped` error; a killed one's are ended by the watchdog.

A request that reaches this worker after another worker took it (that worker died before its
offset was committed) is never run twice into one response: if the log already holds events
of it, this worker ends it (retriable `producer_lost`) instead of splicing a second attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents import cached, hooks
from agents.drain import Drain
from agents.metrics import WorkerMetrics
from agents.models.base import Citation, Item, Limits, ModelAdapter, ToolCall, limited
from agents.models.registry import Registry
from agents.sideread import SideReader
from app import cache, consumers, events, kafka_security, logs
from app.contract import control, requests
from app.contract.requests import Call
from app.deadletter import DeadLetters
from app.errors import (
    BadCalls,
    BadRequest,
    DecodeError,
    GenerationFailed,
    ProducerLost,
    UpstreamError,
    WorkerStopped,
)
from app.ids import partition_for
from app.producer import Publisher, ResponseWriter
from app.request.calls import ANSWER, parse_calls
from app.settings import Settings
from app.storage.store import Store
from app.topics import ensure_topics
from app.tracing import Tracing
from app.usage import Usage

log = logging.getLogger(__name__)
# A cancel may overtake its request (queued behind others, or on a worker taking over), so
# each worker remembers recent cancels, and re-reads this much of the control topic at start.
CANCEL_MEMORY_S = 600.0
CANCEL_MEMORY_MAX = 100_000
STOP_GRACE_S = 5.0


async def fail(writer: ResponseWriter, exc: UpstreamError, source: str = ANSWER) -> None:
    """End the response with the upstream fault `exc`, labelled with the call that failed."""
    log.warning("%s ends with error %s: %s", source, exc.code, exc.message)  # rid: app/logs.py
    await writer.error(
        exc.message,
        retriable=exc.retriable,
        code=exc.code,
        source=source,
        status=exc.upstream_status,
    )


async def run_call(
    writer: ResponseWriter, call: Call, adapters: Callable[[str], ModelAdapter], limits: Limits
) -> None:
    source = call.source
    started = time.monotonic()
    first_token_ms: float | None = None
    usage: Usage | None = None
    items = limited(adapters(call.model).stream(call), limits)
    # Until the first text: the same dispatch, plus the clock (leaving this loop keeps `items`
    # open; the loop below goes on with it and has no per-token check added).
    async for item in items:
        if type(item) is str and item:
            first_token_ms = (time.monotonic() - started) * 1000
            await writer.delta(item, source)
            break
        usage = await _write(writer, item, source) or usage
    async for item in items:
        if type(item) is str:  # the per-token case first
            await writer.delta(item, source)  # "" (output that is not text yet) writes nothing
        else:
            usage = await _write(writer, item, source) or usage
    await writer.source_done(
        source,
        model=call.model,
        usage=usage,
        first_token_ms=first_token_ms,
        duration_ms=(time.monotonic() - started) * 1000,
    )


async def _write(writer: ResponseWriter, item: Item, source: str) -> Usage | None:
    """An item that is not a text piece: written, or (a Usage) handed back for source.done."""
    if type(item) is ToolCall:
        await writer.tool_call(item.call_id, item.name, item.arguments, source)
    elif type(item) is Citation:
        await writer.citation(item.ref, source)
    elif type(item) is Usage:
        return item
    return None


async def run_response(
    writer: ResponseWriter,
    calls: list[Call],
    adapters: Callable[[str], ModelAdapter],
    limits: Limits,
    cancel_requested: Callable[[], bool],
) -> None:
    """All calls at once; then `done`, or the first failure's `error`, or `cancelled`."""
    writer.tally.calls.update((call.source, call.model) for call in calls)  # for its summary
    tasks = [
        asyncio.create_task(run_call(writer, call, adapters, limits), name=call.source)
        for call in calls
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        await _stop(tasks)  # closes every upstream request before the terminal event is written
        if cancel_requested():
            await writer.cancelled()
            return
        stopping = WorkerStopped("the worker is stopping")
        await fail(writer, stopping)
        raise
    failures = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
    if not failures:
        await writer.done()
        return
    await _stop(tasks)
    first = failures[0]
    exc = first.exception()
    if not isinstance(exc, UpstreamError):
        log.error("model call %s of %s failed", first.get_name(), writer.rid, exc_info=exc)
        exc = GenerationFailed(f"model call failed: {exc!r}")
    await fail(writer, exc, first.get_name())


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Generation:
    """This worker's running responses: take a request, cancel one, stop them all."""

    def __init__(
        self, settings: Settings, publisher: Publisher, registry: Registry,
        store: Store | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store  # the response cache's stored answers (None: a hit cannot be read)
        self.sidereads = SideReader(settings, "tokenrelay-generation-takeover")
        # A request this old may have been taken by a worker that died: its death takes at
        # least a session timeout to move the request here, so younger ones cannot have been.
        self.takeover_age_ms = settings.worker_session_timeout_s * 900
        # When this worker last got partitions (epoch ms; set by register's rebalance hook). A
        # request written before it may have been taken by the partition's previous owner in
        # its last commit interval and be running there: a worker joining makes Faust deliver
        # it again here, young, and run twice it put every seq twice in the log (the chaos run
        # found it). Such a request is checked against the log first, like an old one.
        self.assigned_ms = 0.0
        self.publisher = publisher
        self.registry = registry
        self.limits = Limits.from_settings(settings)
        self.slots = asyncio.Semaphore(settings.generation_concurrency)
        self.running: dict[str, asyncio.Task[None]] = {}
        self.cancelling: set[str] = set()
        self.cancelled: OrderedDict[str, float] = OrderedDict()  # rid -> when, recent first out
        self.tracing = Tracing.off()  # app/tracing.py: a "generate" span per response when on

    async def take(
        self, value: bytes | None, written_ms: float | None = None, headers: Any = None
    ) -> None:
        """Start one request; waits for free slots (so requests wait in Kafka, not here).
        `written_ms` is when Kafka stored the request (its record timestamp), `headers` its
        record's (trace context). DecodeError for a record that is not a request (the agent
        dead-letters it)."""
        request = requests.decode(value)
        with logs.bound(request.rid):  # its log lines, and its generation task's, carry it
            await self._take(request, written_ms, headers)

    async def _take(
        self, request: requests.Request, written_ms: float | None, headers: Any
    ) -> None:
        rid = request.rid
        # The edge wrote the response's `open` index record when it created the request.
        writer = self.publisher.response(rid, announced=True)
        if request.views:
            writer.views = request.views
        # The edge found a stored answer: replay it, no model call.
        hit = cache.hit_of(request.cache_hit)
        if hit is not None:
            writer.cached_from = hit.rid  # in its terminal index record too, as in `open`
        if rid in self.running:
            return  # delivered again while it runs here (a re-read after a rebalance)
        if rid in self.cancelled:
            await writer.cancelled()  # the cancel overtook the request
            return
        try:
            calls = parse_calls({"calls": request.calls}, self.settings.generation_max_calls)
        except BadRequest as exc:  # the edge validates; this came from somewhere else
            await fail(writer, BadCalls(str(exc)))
            return
        # One slot per call; a response wider than the whole worker takes every slot.
        need = min(len(calls), self.settings.generation_concurrency)
        for _ in range(need):
            await self.slots.acquire()
        if rid in self.cancelled:  # cancelled while it waited for slots
            for _ in range(need):
                self.slots.release()
            await writer.cancelled()
            return
        old = written_ms is not None and (
            events.now_ms() - written_ms > self.takeover_age_ms or written_ms < self.assigned_ms
        )
        span = self.tracing.start("generate", headers, kind="consumer", rid=rid)
        writer.trace_headers = self.tracing.headers(span)  # on its first event record
        task = asyncio.create_task(self._run(writer, calls, need, written_ms if old else None, hit))
        if span is not None:
            task.add_done_callback(lambda _: span.end())
        self.running[rid] = task
        task.add_done_callback(lambda _: self.running.pop(rid, None))

    def cancel(self, rid: str) -> None:
        """Idempotent: a second cancel of a running response changes nothing."""
        self.cancelled[rid] = time.monotonic()
        self.cancelled.move_to_end(rid)
        cutoff = time.monotonic() - CANCEL_MEMORY_S
        while self.cancelled and (
            len(self.cancelled) > CANCEL_MEMORY_MAX or next(iter(self.cancelled.values())) < cutoff
        ):
            self.cancelled.popitem(last=False)
        task = self.running.get(rid)
        if task is not None and rid not in self.cancelling:
            self.cancelling.add(rid)
            task.cancel()

    async def stop(self) -> None:
        """Worker shutdown: end every running response with a retriable error."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_S)

    async def _run(
        self, writer: ResponseWriter, calls: list[Call], slots: int, taken_over: float | None,
        hit: cache.CacheHit | None = None,
    ) -> None:  # fmt: skip
        rid = writer.rid
        try:
            if taken_over is not None and await self._started_elsewhere(writer, taken_over):
                return
            adapters = self._adapter
            if hit is not None:
                try:
                    adapters = (await cached.load(self.store, hit)).adapter
                except UpstreamError as exc:
                    await fail(writer, exc)
                    return
            await run_response(
                writer,
                calls,
                adapters,
                self.limits,
                lambda: rid in self.cancelling,
            )
        except Exception:
            log.exception("generation of %s failed", rid)
        finally:
            self.cancelling.discard(rid)
            for _ in range(slots):
                self.slots.release()

    async def _started_elsewhere(self, writer: ResponseWriter, since_ms: float) -> bool:
        """Whether an earlier attempt of this request left events; if it did not finish, end
        the response after its last event (a second attempt would splice two answers)."""
        part = partition_for(writer.rid, self.publisher.partitions)
        seen = await self.sidereads.fold(writer.rid, part, since_ms=since_ms)
        if not seen.order.last:
            return False
        if seen.final_type is None:
            if events.now_ms() - seen.last_ts < self.settings.response_idle_timeout_s * 1000:
                # Its writer may be alive on another worker: a rebalance (a worker joining or
                # dying) delivers again a request taken in the last commit interval. Ending it
                # here raced that writer, and put seqs twice in the log (the chaos run found
                # it). If the writer is dead, the watchdog ends the response once it is silent.
                log.info("%s is being written elsewhere; leaving it", writer.rid)
                return True
            log.warning("%s was started by a worker that died; ending it", writer.rid)
            writer.seq = seen.order.last
            await writer.error(
                "the worker running this response stopped",
                retriable=ProducerLost.retriable,
                code=ProducerLost.code,
            )
        return True

    def _adapter(self, model: str) -> ModelAdapter:
        return self.registry.adapter(model)


async def follow_control(settings: Settings, generation: Generation) -> None:
    """Read every partition of <prefix>.control (no consumer group: each worker sees every
    cancel, so it reaches the worker running the response wherever partitions have moved)."""
    while True:
        try:
            await _read_control(settings, generation)
        except Exception:  # a lost reader would silently stop every cancel: start again
            log.exception("control reader failed; restarting it")
            await asyncio.sleep(1.0)


async def _read_control(settings: Settings, generation: Generation) -> None:
    consumer = AIOKafkaConsumer(
        **kafka_security.aiokafka_options(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=500,  # the broker answers as soon as a cancel arrives
        client_id="tokenrelay-generation-control",
    )
    await consumer.start()
    try:
        counts = await ensure_topics(settings)  # they exist: this just answers how many
        tps = [
            TopicPartition(settings.control_topic, p) for p in range(counts[settings.control_topic])
        ]
        consumer.assign(tps)
        since = int((time.time() - CANCEL_MEMORY_S) * 1000)
        found = await consumer.offsets_for_times({tp: since for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, found[tp].offset if found[tp] else ends[tp])
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    rid = _cancel_of(record.value)
                    if rid is not None:
                        generation.cancel(rid)
    finally:
        await consumers.stop(consumer)


def _cancel_of(value: bytes | None) -> str | None:
    """The response a record cancels; None for anything else (the persist group, which reads
    the topic once, dead-letters what is not a control record)."""
    try:
        record = control.decode(value)
    except DecodeError:
        return None
    # A cancel of a response already over is there for the audit log only.
    return record.rid if record.stops else None


def register(
    app: faust.App, settings: Settings, metrics: WorkerMetrics, drain: Drain | None = None
) -> None:
    """`drain`: the worker's (agents/drain.py); none, a stop ends running responses at once."""
    drain = drain or Drain(0.0)
    generations: list[Generation] = []  # the agent's, once it runs

    @hooks.on_assigned(app)
    async def assigned(partitions: set[Any]) -> None:
        for generation in generations:
            generation.assigned_ms = events.now_ms()

    requests = app.topic(
        settings.requests_topic,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(requests, name="generation")
    async def generate(stream: faust.StreamT[bytes]) -> None:
        registry = Registry(settings)
        store = Store.connect(settings.database_url)  # no connection until a cache hit
        dead = DeadLetters(settings)
        publisher = Publisher(settings)
        await publisher.start()
        publisher.on_finished = metrics.on_finished
        generation = Generation(settings, publisher, registry, store)
        generation.assigned_ms = events.now_ms()  # it starts on an assignment
        generations.append(generation)
        generation.tracing = tracing = Tracing.from_settings(settings, "tokenrelay-worker")
        metrics.watch_publisher(publisher)
        metrics.running.set_function(lambda: len(generation.running))
        cancels = asyncio.create_task(follow_control(settings, generation))

        async def close() -> None:
            try:
                await drain.settle(generation.running)  # cancels still land meanwhile
                cancels.cancel()
                await asyncio.gather(cancels, return_exceptions=True)
                await generation.stop()
                await generation.sidereads.close()
                await registry.aclose()
                await store.close()
                await dead.stop()
            finally:
                await publisher.stop()
                tracing.shutdown()

        try:
            async for event in stream.events():
                message = event.message
                try:
                    # faust gives the record's timestamp in seconds
                    await generation.take(message.value, message.timestamp * 1000, message.headers)
                except Exception as exc:  # this group reads each request once: once
                    # A record no response can be made of; any other fault is a bug, but
                    # of this request only: the agent goes on with the next.
                    log.log(logging.WARNING if isinstance(exc, DecodeError) else logging.ERROR,
                            "dead-lettering request %s/%d/%d: %r", message.topic,
                            message.partition, message.offset, exc)  # fmt: skip
                    dead.put(message.topic, message.partition, message.offset, message.key,
                             message.value, str(exc))  # fmt: skip
        finally:
            await drain.later(close())  # while draining: after Faust has left the group
