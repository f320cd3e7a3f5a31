"""The generation agent: takes requests from <prefix>.requests and runs each response's model
calls in parallel (agents/running.py), publishing their text through the producer SDK; a reader
of <prefix>.control stops them on cancel (agents/cancels.py). Generation lives in workers, never
in the edge.

Policy (ARCHITECTURE.md, "Generation"): the first call to fail ends the response with its
`error` and stops the others; a cancel ends it with `cancelled`; a stopping worker lets its
responses run on for up to TOKENRELAY_WORKER_DRAIN_S (agents/drain.py) and ends those still
running with a retriable `worker_stopped` error; a killed one's are ended by the watchdog.

A request that reaches this worker after another worker took it (a rebalance delivers again
what was taken in the last commit interval) is never run twice into one response: a worker
says in the index that it took a request before its first event, and one given the request
again leaves it to that writer, or ends it (retriable `producer_lost`) if it went silent,
instead of splicing a second attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

import faust

from agents import cached, hooks
from agents.cancels import CANCEL_MEMORY_S, follow_control
from agents.drain import Drain
from agents.metrics import WorkerMetrics
from agents.models.base import Limits, ModelAdapter
from agents.models.registry import Registry
from agents.running import fail, run_response
from agents.sideread import SideReader
from app import cache, events, logs
from app.contract import requests
from app.contract.requests import Call
from app.deadletter import DeadLetters
from app.errors import BadCalls, BadRequest, DecodeError, ProducerLost, UpstreamError
from app.ids import partition_for
from app.producer import Publisher, ResponseWriter
from app.request.calls import parse_calls
from app.settings import Settings
from app.storage.store import Store
from app.tracing import Tracing

log = logging.getLogger(__name__)
# Recent cancels remembered (a cancel may overtake its request; agents/cancels.py).
CANCEL_MEMORY_MAX = 100_000
STOP_GRACE_S = 5.0


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
            writer.took()
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
        """Whether an earlier attempt of this request took it (its `beat` in the index) or left
        events. If that attempt went silent, end the response after its last event: a second
        attempt would splice two answers."""
        rid = writer.rid
        part = partition_for(rid, self.publisher.partitions)
        seen = await self.sidereads.fold(rid, part, since_ms=since_ms)
        alive = seen.last_ts
        if not seen.order.last:
            # Taken but nothing written yet (a model's first token can take seconds): without
            # this, the request given again here ran twice, two model calls racing for seq 1.
            taken = await self.sidereads.taken(rid, part, since_ms=since_ms)
            if taken is None:
                return False
            alive = taken
        if seen.final_type is not None:
            return True
        if events.now_ms() - alive < self.settings.response_idle_timeout_s * 1000:
            # Its writer may be alive on another worker: a rebalance (a worker joining or
            # dying) delivers again a request taken in the last commit interval. Ending it
            # here raced that writer, and put seqs twice in the log (the chaos run found
            # it). If the writer is dead, the watchdog ends the response once it is silent.
            log.info("%s is being written elsewhere; leaving it", rid)
            return True
        log.warning("%s was started by a worker that died; ending it", rid)
        writer.seq = seen.order.last
        await writer.error(
            "the worker running this response stopped",
            retriable=ProducerLost.retriable,
            code=ProducerLost.code,
        )
        return True

    def _adapter(self, model: str) -> ModelAdapter:
        return self.registry.adapter(model)


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
