"""The edge process's one Kafka consumer and its in-memory fan-out.

It follows <prefix>.events and <prefix>.responses from their ends (follow.py), in `getmany`
batches. Each event is decoded once, judged by the ordering rule (app/ordering.py)
for its response, framed once from its stored bytes and pushed to that response's subscribers.
Index records only make a response known here (created, partition, first offset); how it ended
comes from its events. A finished response leaves memory `edge_finished_keep_s` after its
terminal event, into the bounded directory. Readers never touch Kafka on the live path. Each
response keeps a ring of recent frames for readers catching up, within one budget (rings.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, events, ids, views
from app.contract import index
from app.deadletter import DeadLetters
from app.edge import follow, sse
from app.edge.directory import Directory, Entry
from app.edge.metrics import Metrics
from app.edge.pace import Pacer
from app.edge.recent_turns import RecentTurns
from app.edge.rings import Rings
from app.edge.tracked import Subscription, Tracked, frame_of, view_key
from app.errors import DecodeError
from app.settings import Settings
from app.tracing import Tracing

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 256
# An in-progress response with no event and no reader for this many idle timeouts is dropped
# from memory (the watchdog has ended it long ago, or it ended before this edge looked).
ORPHAN_IDLE_TIMEOUTS = 3


class Fanout:
    def __init__(self, settings: Settings, metrics: Metrics, deadletters: DeadLetters) -> None:
        self.settings = settings
        self.metrics = metrics
        self.deadletters = deadletters
        self.responses: dict[str, Tracked] = {}
        self.directory = Directory(settings.edge_directory_size)
        self.partitions: dict[str, int] = {}
        self._finished: deque[tuple[float, str]] = deque()  # (monotonic end, rid), in end order
        self.rings = Rings(settings.edge_buffer_events, settings.edge_buffer_bytes)
        self.consumed = 0  # events accepted, not yet counted in the metric
        self._arrivals: dict[str, list[asyncio.Future[None]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        # Where each consumer is (the next offset it hands over), per partition: set once per
        # partition per fetch, for the lag computed at scrape time (fanout_metrics.py).
        self.positions: dict[TopicPartition, int] = {}
        # When the consumers were put at the ends (wall clock): every record written after it
        # comes through them, those of a response created later than that too (lookup.py).
        self.following_since_ms: float | None = None
        # Tracing (app/tracing.py): the "deliver" span of each response's first event, when on.
        self.tracing: Tracing = Tracing.off()
        self._views_consumer: AIOKafkaConsumer | None = None
        self._views: dict[str, str] = {}  # view topic -> view name
        self._pacer = Pacer(settings.edge_fetch_wait_ms)
        self._tasks: list[asyncio.Task[None]] = []
        # Conversations' turns opened since this edge started (conversations.py follows them).
        self.conversations = RecentTurns(
            settings.edge_conversations, settings.edge_conversation_idle_s
        )

    @property
    def live(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def start(self, partitions: dict[str, int]) -> None:
        s = self.settings
        self.partitions = partitions
        self._views = {s.view_topic(name): name for name in views.names()}
        # The views have a consumer of their own: in the live path's fetches, their 24 idle
        # partitions cost the edge 26 -> 34 µs per token and 500 x 30's p99 22 -> 66 ms (bench).
        following = time.time() * 1000
        self._consumer = await follow.from_end(
            s, (s.responses_topic, s.events_topic), partitions, self.positions
        )
        self._views_consumer = await follow.from_end(
            s, tuple(self._views), partitions, self.positions
        )
        self.following_since_ms = following
        self._pacer.attach(self._consumer)
        self._tasks = [
            asyncio.create_task(self._run()),
            asyncio.create_task(self._run_views()),
            asyncio.create_task(self._sweep()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for consumer in (self._consumer, self._views_consumer):
            if consumer is not None:
                await consumers.stop(consumer)

    async def _run_views(self) -> None:
        assert self._views_consumer is not None
        while True:
            batches = await follow.fetch(self._views_consumer)
            now = time.monotonic()
            for tp, records in batches.items():
                view = self._views[tp.topic]
                for r in records:
                    self.on_event(tp.partition, r.offset, r.key, r.value, now, view)
                self.positions[tp] = records[-1].offset + 1
            if self.consumed:
                self.metrics.events_in.inc(self.consumed)
                self.consumed = 0

    async def _run(self) -> None:
        assert self._consumer is not None
        events_topic = self.settings.events_topic
        traced = self.tracing.on
        while True:
            batches = await follow.fetch(self._consumer)
            now = time.monotonic()
            count = 0
            for tp, records in batches.items():
                count += len(records)
                if tp.topic == events_topic:
                    for r in records:
                        self.on_event(tp.partition, r.offset, r.key, r.value, now)
                        if traced and r.headers:  # only a response's first event has any
                            self._deliver_span(r.key, r.headers)
                else:
                    for r in records:
                        self.on_index(r.value)
                self.positions[tp] = records[-1].offset + 1
            self._pacer.consumed(count, now)
            if self.consumed:
                self.metrics.events_in.inc(self.consumed)
                self.metrics.buffered.set(self.rings.bytes)
                self.consumed = 0

    def on_event(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, now: float,
        view: str | None = None,
    ) -> None:  # fmt: skip
        try:
            event = events.decode(value)
        except DecodeError as exc:
            self.metrics.undecodable.inc()
            log.warning("undecodable record %s/%d/%d: %s", "events", partition, offset, exc)
            topic = self.settings.events_topic if view is None else self.settings.view_topic(view)
            self.deadletters.put(topic, partition, offset, key, value, str(exc))
            return
        stream = event.rid if view is None else view_key(event.rid, view)
        tracked = self.responses.get(stream)
        if tracked is None:
            if stream in self.directory:
                return  # finished and gone from memory: nothing after its terminal counts
            tracked = self._track(
                Tracked(stream, partition, ids.created_ms(event.rid) or 0.0,
                        first=offset if event.seq == 1 else None, from_start=event.seq == 1)
            )  # fmt: skip
        if not tracked.order.accept(event):
            return  # a duplicate seq, or after the terminal event: the rule drops it
        tracked.touched = now
        if event.seq % CHECKPOINT_EVERY == 1:
            tracked.checkpoints.append((event.seq, offset))
        if event.terminal:
            tracked.status = event.type
            self._finished.append((now, tracked.rid))
        frame = frame_of(event, sse.frame(event, value))
        self.rings.remember(tracked, frame)
        self.consumed += 1  # into the metric once per batch: a Counter.inc takes a lock
        for sub in tracked.subscribers:
            sub.push(frame)

    def _deliver_span(self, key: bytes | None, headers: Any) -> None:
        """Open the "deliver" span of a response's first event (its record carries the writer's
        trace context); the first reader to write it ends it, or nobody does if no reader is
        there yet (resume.py, _forget). One span per response per edge, never one per token."""
        tracked = self.responses.get((key or b"").decode("utf-8", "replace"))
        if tracked is None or tracked.delivery is not None:
            return
        span = self.tracing.start("deliver", headers, kind="consumer", rid=tracked.rid)
        if span is not None and not tracked.subscribers:
            span.set_attribute("tokenrelay.readers", 0)
            span.end()
        else:
            tracked.delivery = span

    def lag(self) -> dict[str, int]:
        """Records in Kafka not yet read here, per topic (follow.lag)."""
        return follow.lag([self._consumer, self._views_consumer], self.positions)

    def on_index(self, value: bytes | None) -> None:
        try:
            record = index.decode(value)
        except DecodeError as exc:
            self.metrics.undecodable.inc()
            log.warning("undecodable index record: %s", exc)
            return
        self.adopt(record, live=True)
        if record.conversation is not None and record.state == index.OPEN:
            self.conversations.opened(record)  # after adopt: its streams find it tracked

    def adopt(self, record: index.IndexRecord, live: bool = False) -> Tracked:
        """The response an index record names, tracked from now on (a record read live, or
        one found by lookup.py). One this edge does not follow is returned detached."""
        tracked = self.responses.get(record.rid)
        if tracked is None:
            entry = self.directory.get(record.rid)
            if entry is not None:
                return entry.tracked()  # e.g. its terminal index record, after it left memory
            tracked = Tracked(
                record.rid, record.partition, record.created, first=record.first,
                from_start=live and record.state == index.OPEN, views=record.views,
                cached_from=record.cached_from,
            )  # fmt: skip
            if record.terminal and not live:
                tracked.index_seq, tracked.index_final = record.seq, record.state
                return tracked  # ended before this edge looked: read from Kafka, not followed
            self._track(tracked)
            tracked.touched = time.monotonic()
        tracked.created = tracked.created or record.created
        if record.views or record.state == index.OPEN:
            tracked.views = record.views
        tracked.cached_from = tracked.cached_from or record.cached_from
        if tracked.first is None:
            tracked.first = record.first
        tracked.index_seq = max(tracked.index_seq, record.seq)
        if record.terminal:
            tracked.index_final = tracked.index_final or record.state
        return tracked

    def view_stream(self, raw: Tracked, view: str) -> Tracked:
        """The stream of one view of a response, followed here from now on (its events come
        from the views agent, usually a little after the raw ones)."""
        key = view_key(raw.rid, view)
        tracked = self.responses.get(key)
        if tracked is not None:
            return tracked
        entry = self.directory.get(key)
        if entry is not None:
            return entry.tracked()
        tracked = self._track(Tracked(key, raw.partition, raw.created, parent=raw))
        tracked.touched = time.monotonic()
        return tracked

    def settled(self, tracked: Tracked, status: str, seq: int) -> None:
        """A catch-up read found the end of a response this edge had not seen end."""
        if not tracked.settle(status, seq):
            return
        if self.responses.get(tracked.rid) is tracked:
            self._finished.append((time.monotonic(), tracked.rid))
        elif tracked.rid not in self.responses:
            # Found by lookup, never followed: the next reader needs no search of the index.
            self.directory.put(Entry.of(tracked))
            self.metrics.directory.set(len(self.directory))

    def _track(self, tracked: Tracked) -> Tracked:
        self.responses[tracked.rid] = tracked
        self.metrics.tracked.set(len(self.responses))
        for waiter in self._arrivals.pop(tracked.rid, []):
            if not waiter.done():
                waiter.set_result(None)
        return tracked

    async def _sweep(self) -> None:
        keep_s = self.settings.edge_finished_keep_s
        orphan_s = keep_s + ORPHAN_IDLE_TIMEOUTS * self.settings.response_idle_timeout_s
        every = min(1.0, max(0.05, keep_s / 4))
        scans = 0
        while True:
            await asyncio.sleep(every)
            self.evict(time.monotonic() - keep_s)
            scans += 1
            if scans * every >= 10.0:  # the full scan for orphans is rare: they are rare
                scans = 0
                self.evict_orphans(time.monotonic() - orphan_s)

    def evict(self, ended_before: float) -> None:
        """Finished responses whose terminal event came before `ended_before` leave memory."""
        while self._finished and self._finished[0][0] <= ended_before:
            _, rid = self._finished.popleft()
            tracked = self.responses.get(rid)
            if tracked is not None and tracked.final_seq:
                self.directory.put(Entry.of(tracked))
                self._forget(tracked)

    def evict_orphans(self, idle_before: float) -> None:
        for tracked in [t for t in self.responses.values() if not t.final_seq]:
            if tracked.touched <= idle_before and not tracked.subscribers:
                self._forget(tracked)

    def _forget(self, tracked: Tracked) -> None:
        # Readers still holding it keep their reference; nothing live comes after the end.
        del self.responses[tracked.rid]
        if tracked.delivery is not None:  # no reader ever wrote its first event
            tracked.delivery.end()
            tracked.delivery = None
        self.rings.drop(tracked)
        self.metrics.tracked.set(len(self.responses))
        self.metrics.directory.set(len(self.directory))
        self.metrics.buffered.set(self.rings.bytes)

    def arrival(self, rid: str) -> asyncio.Future[None]:
        """A future resolved when `rid` becomes tracked here (a just-created response)."""
        waiter = asyncio.get_running_loop().create_future()
        self._arrivals.setdefault(rid, []).append(waiter)
        return waiter

    def forget_arrival(self, rid: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._arrivals.get(rid, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._arrivals.pop(rid, None)

    def subscribe(self, tracked: Tracked) -> Subscription:
        sub = Subscription(tracked.rid, self.settings.edge_subscriber_queue, self.metrics)
        tracked.subscribers.add(sub)
        return sub

    def unsubscribe(self, tracked: Tracked, sub: Subscription) -> None:
        tracked.subscribers.discard(sub)
        sub.close()
