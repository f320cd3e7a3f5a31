"""What the edge holds for one response: its place in Kafka, its position by the ordering rule,
a bounded ring of recent frames, and the subscribers its live frames go to.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from app.edge.metrics import Metrics
from app.events import Event
from app.ordering import Order

IN_PROGRESS = "in_progress"
# A view's stream is held like a response's, under "<rid>\x1f<view>" (a byte no URL path
# brings): its own seq, ring and subscribers, read from <prefix>.views.<view>.
VIEW_SEP = "\x1f"


def view_key(rid: str, view: str | None) -> str:
    return rid if view is None else f"{rid}{VIEW_SEP}{view}"


def key_parts(key: str) -> tuple[str, str | None]:
    """(rid, view or None) of a stream key."""
    rid, sep, view = key.partition(VIEW_SEP)
    return (rid, view) if sep else (key, None)


# One event as readers get it: (seq, SSE bytes framed once for every reader, terminal, source,
# text, ts: its writer's clock in epoch ms, for the delivery latency), read as frame[SEQ] ...
# A plain tuple, not an object, on purpose: CPython's collector stops tracking a tuple of
# atomic values, and the rings hold up to ~10^6 frames. Held as objects (a frame and its
# Event), they were 460,000 of the edge's 527,000 tracked objects at 500 responses × 30
# tokens/s, and its full collections took ~200 ms every ~3 s: most of the p99.
Frame = tuple[int, bytes, bool, str, str | None, float]
# Literal indexes (Final), so a type checker knows each field's type in `frame[SEQ]`.
SEQ: Final = 0
DATA: Final = 1
TERMINAL: Final = 2
SOURCE: Final = 3
TEXT: Final = 4
TS: Final = 5


def frame_of(event: Event, data: bytes) -> Frame:
    return (event.seq, data, event.terminal, event.source, event.text, event.ts)


class Subscription:
    """A reader's bounded queue of live frames. Overflow empties it and says so: the reader then
    catches up from the ring or from Kafka instead of growing the edge's memory."""

    __slots__ = (
        "rid", "maxsize", "metrics", "frames", "overflowed", "_waiter", "_idle_until", "_timer",
    )  # fmt: skip

    def __init__(self, rid: str, maxsize: int, metrics: Metrics) -> None:
        self.rid = rid
        self.maxsize = maxsize
        self.metrics = metrics
        self.frames: deque[Frame] = deque()
        self.overflowed = False
        self._waiter: asyncio.Future[None] | None = None
        self._idle_until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def push(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if len(self.frames) >= self.maxsize:
            self.overflowed = True
            self.frames.clear()
            self.metrics.overflows.inc()
        else:
            self.frames.append(frame)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self, timeout_s: float) -> list[Frame] | None:
        """Every frame queued (waiting up to `timeout_s` for one: [] if none came), or None once
        the queue has overflowed. One call per wake-up, however many frames arrived."""
        if not self.frames and not self.overflowed:
            # A bare future, and one timer per reader re-armed only when it fires: a timer per
            # wait (one per token per reader) was a measurable share of the edge's CPU.
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            self._idle_until = loop.time() + timeout_s
            if self._timer is None:
                self._timer = loop.call_at(self._idle_until, self._tick)
            try:
                await waiter
            finally:
                self._waiter = None
        if self.overflowed:
            return None
        frames = list(self.frames)
        self.frames.clear()
        return frames

    def _tick(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # not waiting: the next wait arms it again
        loop = waiter.get_loop()
        if loop.time() < self._idle_until:
            self._timer = loop.call_at(self._idle_until, self._tick)
        else:
            waiter.set_result(None)  # idle for the whole heartbeat: drain returns []

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(slots=True, eq=False)
class Tracked:
    """What this edge knows of one response."""

    rid: str
    partition: int
    created: float = 0.0  # epoch ms, 0 if unknown
    first: int | None = None  # offset of its first event in <prefix>.events, if known
    # Whether this edge saw the response from its start, so an empty ring means "nothing yet"
    # rather than "not held here".
    from_start: bool = False
    index_seq: int = 0  # the last seq the index says is stored (a hint for 410 only)
    # The state of its terminal index record, once read (a hint, like index_seq: the log is
    # the truth, but where Kafka and storage have lost the events it is all there is).
    index_final: str | None = None
    order: Order = field(default_factory=Order)
    status: str = IN_PROGRESS
    touched: float = 0.0  # monotonic time of the last event seen live
    recent: deque[Frame] = field(default_factory=deque)
    # (seq, offset) every CHECKPOINT_EVERY seqs: where a catch-up read can start in Kafka.
    checkpoints: list[tuple[int, int]] = field(default_factory=list)
    subscribers: set[Subscription] = field(default_factory=set)
    views: tuple[str, ...] | None = None  # the views it asked for, once an index record said
    # Found only in storage (Kafka holds nothing of it): read from there (archive.py).
    archived: bool = False
    cached_from: str | None = None  # the response cache's source, once an index record said
    parent: Tracked | None = None  # a view's stream: the raw stream it is made from
    # The open "deliver" span of its first event (app/tracing.py), until a reader writes it.
    delivery: Any = None

    @property
    def ended(self) -> bool:
        """Known to have ended: its terminal event was seen, or the index says it was stored."""
        return bool(self.order.final) or self.index_final is not None

    @property
    def final_seq(self) -> int:
        """The terminal event's seq, or 0 while the end is not known here."""
        return self.order.final

    @property
    def last_seq(self) -> int:
        return self.order.last

    def settle(self, status: str, seq: int) -> bool:
        """Record an end learned outside the live path (a catch-up read applied the same rule
        to the same log); False if the end was known already."""
        if self.order.final:
            return False
        self.order.final = seq
        self.order.last = max(self.order.last, seq)
        self.status = status
        return True

    def frames_after(self, seq: int) -> list[Frame] | None:
        """The ring's frames after `seq`, or None if the ring cannot say (Kafka must)."""
        recent = self.recent
        if recent:
            if recent[0][SEQ] > seq + 1:
                return None
            return [f for f in recent if f[SEQ] > seq]
        # Nothing held: fine when this edge saw the whole response and nothing after `seq`
        # happened (a reader arriving before the first token, the usual case).
        return [] if self.from_start and self.order.last <= seq else None
