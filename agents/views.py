"""The views agent: runs the transforms a response asked for (agents/transforms/) and writes each
view to `<prefix>.views.<name>`, with its own contiguous seq and `raw_seq`.

Two halves, so that Faust stays off the per-token path:
- a Faust agent on the responses index keeps the responses that asked for views in a table
  (their views and options, from the `open` record), recovered on every assignment, so the
  worker that owns a partition knows them at once;
- one plain consumer per worker (`Follower`) reads the raw events of those responses only, from
  each response's first event, in `getmany` batches, and feeds them to the transforms.

A transform is a pure function of the raw events (agents/transforms/base.py), so after a crash
or a rebalance the new owner replays each response's raw events from its start: the view's
events come out again with the same seq, content and `ts` (the raw event's), and the readers'
rule (first seq wins) drops the copies. Nothing per token is written but the view events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from agents import hooks
from agents.following import Following, View, following, number, outputs
from agents.lanes import Lane
from agents.transforms.base import Out
from agents.watchdog import RAW, RAW_CODEC
from app import consumers, events, kafka_security
from app.contract import index, tables
from app.errors import DecodeError, ViewUnavailable
from app.events import Event
from app.producer import Publisher
from app.settings import Settings

log = logging.getLogger(__name__)
CLOCK_SKEW_MS = 5_000  # writer clocks and the broker's may disagree: time seeks start early
SYNC_S = 0.5
class Follower:
    """The one consumer that reads the raw events of the responses being followed."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.active: dict[str, Following] = {}
        self.finished: dict[str, int] = {}  # rid -> partition: ended here, table entry to drop
        self._consumer: AIOKafkaConsumer | None = None
        self._seeks: dict[int, int] = {}  # partition -> earliest offset a new response needs
        self._starting: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **kafka_security.aiokafka_options(self.settings),
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            client_id="tokenrelay-views",
        )
        await consumers.start(consumer)
        self._consumer = consumer  # only once started: `follow` looks offsets up with it
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for f in self.active.values():
            self._cancel_lanes(f)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await consumers.stop(self._consumer)

    async def follow(self, entry: dict[str, Any]) -> None:
        rid = entry["rid"]
        busy = rid in self.active or rid in self.finished or rid in self._starting
        if busy or self._consumer is None:
            return
        f = following(self.settings, entry)
        if not f.views:
            return
        self._starting.add(rid)  # the agent and the sync timer may both ask, concurrently
        try:
            f.start = await self._start_offset(f, entry)
        finally:
            self._starting.discard(rid)
        self.active[rid] = f
        self._lanes(f)
        f.rewinding = True  # the batch in hand may hold its later events: not misses
        self._seek(f.partition, f.start)
        self._wake.set()

    async def _start_offset(self, f: Following, entry: dict[str, Any]) -> int:
        assert self._consumer is not None
        tp = TopicPartition(self.settings.events_topic, f.partition)
        since = max(0, int(entry["created"]) - CLOCK_SKEW_MS)
        found = (await self._consumer.offsets_for_times({tp: since}))[tp]
        start = found.offset if found is not None else (await self._consumer.end_offsets([tp]))[tp]
        if entry.get("first") is not None:
            start = min(start, entry["first"])
        return int(start)

    def _seek(self, partition: int, offset: int) -> None:
        self._seeks[partition] = min(offset, self._seeks.get(partition, offset))

    def drop_partitions(self, keep: set[int]) -> None:
        """Responses of partitions this worker no longer owns are the new owner's."""
        for rid, f in list(self.active.items()):
            if f.partition not in keep:
                del self.active[rid]
                self._cancel_lanes(f)
        self.finished = {r: p for r, p in self.finished.items() if p in keep}

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            if not self.active:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._apply_seeks(consumer)
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            except KafkaError as exc:
                log.warning("views: fetch failed, retrying: %r", exc)
                await asyncio.sleep(1.0)
                continue
            sent: list[asyncio.Future[int]] = []
            for records in batches.values():
                for record in records:
                    sent.extend(self._on_record(record.key, record.value))
            if sent:
                results = await asyncio.gather(*sent, return_exceptions=True)
                failed = [r for r in results if isinstance(r, BaseException)]
                if failed:
                    log.error("views: %d view events not stored: %r", len(failed), failed[0])

    async def _apply_seeks(self, consumer: AIOKafkaConsumer) -> None:
        """Assign the partitions of the responses followed; a response added behind a
        partition's position moves it back (the others' events read twice count once)."""
        if not self._seeks:
            return
        topic = self.settings.events_topic
        current = {tp.partition: await consumer.position(tp) for tp in consumer.assignment()}
        wanted = {f.partition for f in self.active.values()}
        tps = [TopicPartition(topic, p) for p in sorted(wanted)]
        if set(current) != wanted:
            consumer.assign(tps)  # positions are reset: every partition is seeked below
        for tp in tps:
            starts = [current.get(tp.partition), self._seeks.get(tp.partition)]
            consumer.seek(tp, min(s for s in starts if s is not None))
        self._seeks_applied()

    def _seeks_applied(self) -> None:
        """From the next fetch on, a response's reads start where its seek said: an event past
        the next one is a real miss again."""
        for f in self.active.values():
            if f.partition in self._seeks:
                f.rewinding = False
        self._seeks.clear()

    def _on_record(self, key: bytes | None, value: bytes | None) -> list[asyncio.Future[int]]:
        f = self.active.get(key.decode("utf-8", "replace")) if key else None
        if f is None:
            return []
        try:
            event = events.decode(value)
        except DecodeError:
            return []  # the edges dead-letter it; a view skips what the raw stream skips
        if event.seq > f.order.last + 1:
            return self._missed(f, event)
        if not f.order.accept(event):
            return []
        futures = self._send(f, outputs(f, event))
        for view in f.views:
            if view.lane is not None:
                view.lane.put(event)
        self._retire(f)
        return futures

    def _send(self, f: Following, made: list[tuple[str, Event]]) -> list[asyncio.Future[int]]:
        return [
            self.publisher.send(topic, f.rid, events.encode(ev), partition=f.partition)
            for topic, ev in made
        ]

    def _retire(self, f: Following) -> None:
        """A response whose views all ended leaves the follower (its table entry goes later)."""
        if f.done and self.active.get(f.rid) is f:
            del self.active[f.rid]
            self.finished[f.rid] = f.partition

    def _lanes(self, f: Following) -> None:
        for view in f.views:
            if view.awaits and view.lane is None:

                def emit(event: Event, made: list[Out], v: View = view) -> list[Any]:
                    return self._send(f, number(f, v, event, made))

                def ended(v: View = view) -> bool:
                    return v.ended

                name = f"{f.rid}/{view.name}"
                view.lane = Lane(name, view.transform, emit, ended, lambda: self._retire(f))

    def _cancel_lanes(self, f: Following) -> None:
        for view in f.views:
            if view.lane is not None:
                view.lane.cancel()

    def _missed(self, f: Following, event: Event) -> list[asyncio.Future[int]]:
        """A raw event past the next one: this read began after the response's start (a batch
        fetched before its seek, a time seek misled by a clock). Its transforms must see every
        raw event from seq 1: read its partition again from its start, then from the
        partition's beginning; if seq 1 is gone even so, end its views rather than guess.

        Until the seek is applied, the batch in hand may hold many more of its events past the
        next one: they are one miss, not one each (counted each, three of them ended a view
        whose raw events were all there)."""
        if f.rewinding:
            return []
        f.misses += 1
        f.rewinding = True
        if f.misses <= 2:
            f.start = f.start if f.misses == 1 else 0
            self._seek(f.partition, f.start)
            return []
        log.error("views of %s: raw events before seq %d are gone", f.rid, event.seq)
        lost = Event(
            f.rid, events.ERROR, event.source, event.seq, event.ts,
            retriable=ViewUnavailable.retriable, code=ViewUnavailable.code,
            message="the raw events this view needs are gone",
        )  # fmt: skip
        futures = self._send(f, outputs(f, lost))
        for view in f.views:
            if view.lane is not None:
                view.lane.put(lost)
        self._retire(f)
        return futures


class Views:
    """The agent's half: the table of responses with views, and what the follower follows."""

    def __init__(self, settings: Settings, table: Any, recovered: Any) -> None:
        self.settings = settings
        self.table = table
        self.recovered = recovered
        self.owned: set[int] = set()
        self.publisher = Publisher(settings, client_id="tokenrelay-views")
        self.follower = Follower(settings, self.publisher)
        self._started: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start the publisher and the follower once. The agent and the sync timer both call
        this: the second caller waits for the first one's start (it used to go on at once and
        look offsets up on a consumer not started yet, which crashed the worker)."""
        failed = self._started is not None and self._started.done() and (
            self._started.cancelled() or self._started.exception() is not None
        )
        if self._started is None or failed:  # a start that failed is tried again
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.publisher.start()
        await self.follower.start()

    async def on_message(self, message: Any) -> None:
        try:
            record = index.decode(message.value)
        except DecodeError:
            return  # the watchdog dead-letters it
        self._forget_finished(message.partition)
        if record.state != index.OPEN or not record.views:
            return
        key = record.rid.encode()
        if key in self.table:
            return
        entry = tables.Followed(record.rid, record.partition, record.created, record.first,
                                record.views, record.options or {})  # fmt: skip
        self.table[key] = entry.encode()
        await self.start()
        await self.follower.follow(entry.to_dict())

    def _forget_finished(self, partition: int) -> None:
        """Table entries of responses whose views ended here, written inside the stream (a
        table write needs the current event's partition: same partition, co-partitioned)."""
        done = [rid for rid, p in self.follower.finished.items() if p == partition]
        for rid in done:
            self.follower.finished.pop(rid, None)
            key = rid.encode()
            if key in self.table:
                del self.table[key]

    async def sync(self) -> None:
        """Follow every response of an owned partition the table holds (after a takeover)."""
        if not self.recovered():
            return
        self.follower.drop_partitions(self.owned)
        entries = [tables.decode_followed(raw).to_dict() for _, raw in list(self.table.items())]
        mine = [e for e in entries if e["partition"] in self.owned]
        if mine:
            await self.start()
        for entry in mine:
            await self.follower.follow(entry)

    async def close(self) -> None:
        if self._started is not None:
            await asyncio.gather(self._started, return_exceptions=True)
            await self.follower.stop()
            await self.publisher.stop()


def register(app: faust.App, settings: Settings) -> Views:
    parts = settings.partitions
    responses = app.topic(settings.responses_topic, partitions=parts, **RAW, **RAW_CODEC)
    views = Views(
        settings,
        table=app.Table("views", partitions=parts, **RAW),
        recovered=lambda: hooks.recovered(app),
    )

    @hooks.on_assigned(app)
    async def on_assigned(assigned: set[Any]) -> None:
        views.owned = {tp.partition for tp in assigned if tp.topic == settings.responses_topic}

    @app.agent(responses, name="views")
    async def watch(stream: faust.StreamT[bytes]) -> None:
        try:
            async for event in stream.events():
                try:
                    await views.on_message(event.message)
                except Exception:  # one response's views, not every response's
                    m = event.message
                    log.exception("views: record %s/%d/%d failed", m.topic, m.partition, m.offset)
        finally:
            await views.close()

    @hooks.timer(app, interval=SYNC_S, name="views-sync")
    async def sync() -> None:
        # A fault here must not crash the worker (a timer's exception stops the Faust app):
        # the next tick tries again.
        try:
            await views.sync()
        except Exception:
            log.exception("views: sync failed; retrying in %.1f s", SYNC_S)

    return views
