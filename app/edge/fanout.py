"""The edge process's one Kafka consumer and its in-memory fan-out.

It reads <prefix>.responses (what responses exist, and how they ended) and <prefix>.events
(every event), keeps a bounded ring of recent frames per response, and pushes each new frame
to that response's subscribers. Readers never touch Kafka on the live path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from app import events
from app.edge import sse
from app.edge.metrics import Metrics
from app.errors import DecodeError
from app.events import Event
from app.settings import Settings

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 256


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    event: Event
    data: bytes  # the SSE bytes, encoded once for every reader


class Subscription:
    """A reader's bounded queue of live frames. Overflow empties it and says so: the reader then
    catches up from the ring or from Kafka instead of growing the edge's memory."""

    def __init__(self, rid: str, maxsize: int, metrics: Metrics) -> None:
        self.rid = rid
        self.maxsize = maxsize
        self.metrics = metrics
        self.frames: deque[Frame] = deque()
        self.overflowed = False
        self._ready = asyncio.Event()

    def push(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if len(self.frames) >= self.maxsize:
            self.overflowed = True
            self.frames.clear()
            self.metrics.overflows.inc()
        else:
            self.frames.append(frame)
        self._ready.set()

    async def get(self) -> Frame | None:
        """The next live frame, or None once the queue has overflowed."""
        while not self.frames and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        return None if self.overflowed else self.frames.popleft()


@dataclass(slots=True)
class Tracked:
    """What this edge knows of one response."""

    rid: str
    partition: int
    created_ts: float = 0.0
    status: str = "in_progress"
    final_seq: int = 0  # seq of the terminal event, once known
    last_seq: int = 0  # highest seq seen live
    recent: deque[Frame] = field(default_factory=deque)
    # (seq, offset) every CHECKPOINT_EVERY seqs: where a catch-up read can start in Kafka.
    checkpoints: list[tuple[int, int]] = field(default_factory=list)
    subscribers: set[Subscription] = field(default_factory=set)

    def frames_after(self, seq: int) -> list[Frame] | None:
        """The ring's frames after `seq`, or None if the ring no longer reaches back to it."""
        if not self.recent:
            # Nothing held: fine when nothing after `seq` was ever seen here and the response is
            # not known to have ended (a reader arriving before the first token, the usual case);
            # anything else needs a read from Kafka.
            return [] if self.final_seq == 0 and self.last_seq <= seq else None
        if self.recent[0].seq > seq + 1:
            return None
        return [f for f in self.recent if f.seq > seq]


class Fanout:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.responses: dict[str, Tracked] = {}
        self._lru: OrderedDict[str, None] = OrderedDict()  # responses with frames in a ring
        self._buffered = 0
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.warm = False

    @property
    def live(self) -> bool:
        return self.warm and self._task is not None and not self._task.done()

    async def start(self, partitions: dict[str, int]) -> None:
        s = self.settings
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            client_id="tokenrelay-edge",
        )
        await self._consumer.start()
        tps = []
        for topic in (s.responses_topic, s.events_topic):
            tps += [TopicPartition(topic, p) for p in range(partitions[topic])]
        self._consumer.assign(tps)
        await self._seek_for_warm_up([tp for tp in tps if tp.topic == s.events_topic])
        await self._consumer.seek_to_beginning(*[tp for tp in tps if tp.topic == s.responses_topic])
        targets = await self._consumer.end_offsets(tps)
        self._task = asyncio.create_task(self._run(targets))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def _seek_for_warm_up(self, tps: list[TopicPartition]) -> None:
        assert self._consumer is not None
        since = int(time.time() * 1000) - self.settings.edge_warm_ms
        found = await self._consumer.offsets_for_times({tp: since for tp in tps})
        ends = await self._consumer.end_offsets(tps)
        for tp in tps:
            self._consumer.seek(tp, found[tp].offset if found[tp] else ends[tp])

    async def _run(self, targets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        pending = {tp: end for tp, end in targets.items() if end > 0}
        self.warm = not pending
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=2000)
            except KafkaError as exc:
                # aiokafka reconnects by itself; a fetch error must not end the edge's only reader.
                log.warning("fetch failed, retrying: %r", exc)
                await asyncio.sleep(1.0)
                continue
            for tp, records in batches.items():
                for record in records:
                    self._on_record(tp, record.offset, record.value)
                if tp in pending and records and records[-1].offset + 1 >= pending[tp]:
                    del pending[tp]
            if not self.warm and not pending:
                self.warm = True
                log.info("edge warm: %d responses known", len(self.responses))
            elif not self.warm:
                # A warm-up target may sit past records that compaction or deletion removed.
                for tp in list(pending):
                    if await self._consumer.position(tp) >= pending[tp]:
                        del pending[tp]

    def _on_record(self, tp: TopicPartition, offset: int, value: bytes | None) -> None:
        try:
            event = events.decode(value)
        except DecodeError as exc:
            self.metrics.undecodable.inc()
            log.warning("undecodable record %s@%d: %s", tp, offset, exc)
            return
        tracked = self.track(event.rid, tp.partition)
        if tp.topic == self.settings.responses_topic:
            if event.type == events.OPEN:
                tracked.created_ts = tracked.created_ts or event.ts
            else:
                tracked.status, tracked.final_seq = event.type, event.seq
            return
        if event.seq <= tracked.last_seq:
            return  # already seen (a re-read after a rebalance of the sequencer)
        tracked.last_seq = event.seq
        if event.terminal:
            tracked.status, tracked.final_seq = event.type, event.seq
        if event.seq % CHECKPOINT_EVERY == 1:
            tracked.checkpoints.append((event.seq, offset))
        frame = Frame(event.seq, event, sse.frame(event, value))
        self._remember(tracked, frame)
        self.metrics.events_in.inc()
        for sub in tracked.subscribers:
            sub.push(frame)

    def track(self, rid: str, partition: int) -> Tracked:
        tracked = self.responses.get(rid)
        if tracked is None:
            tracked = self.responses[rid] = Tracked(rid, partition)
            for waiter in self._waiters.pop(rid, []):
                if not waiter.done():
                    waiter.set_result(None)
        return tracked

    def _remember(self, tracked: Tracked, frame: Frame) -> None:
        tracked.recent.append(frame)
        self._buffered += 1
        if len(tracked.recent) > self.settings.edge_buffer_events:
            tracked.recent.popleft()
            self._buffered -= 1
        self._lru[tracked.rid] = None
        self._lru.move_to_end(tracked.rid)
        while self._buffered > self.settings.edge_buffer_budget and len(self._lru) > 1:
            oldest, _ = self._lru.popitem(last=False)
            dropped = self.responses[oldest].recent
            self._buffered -= len(dropped)
            dropped.clear()
        self.metrics.buffered.set(self._buffered)

    async def lookup(self, rid: str, wait_s: float) -> Tracked | None:
        """The response, waiting up to `wait_s` for one not seen yet (it may be just created)."""
        tracked = self.responses.get(rid)
        if tracked is not None or wait_s <= 0:
            return tracked
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(rid, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, wait_s)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(rid, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(rid, None)
        return self.responses.get(rid)

    def subscribe(self, tracked: Tracked) -> Subscription:
        sub = Subscription(tracked.rid, self.settings.edge_subscriber_queue, self.metrics)
        tracked.subscribers.add(sub)
        return sub

    def unsubscribe(self, tracked: Tracked, sub: Subscription) -> None:
        tracked.subscribers.discard(sub)
