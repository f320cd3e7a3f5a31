"""One reader's stream: catch up from the ring or Kafka, then follow the live fan-out.

The subscription is taken before the backlog is read, so nothing falls between them; frames
the two share are dropped by seq. It yields batches: a catch-up chunk, or everything the live
queue holds at a wake-up (one socket write each), and [] when idle for a heartbeat. An
overflowed queue or a seq that skips ends the live phase and the reader catches up again. It
never yields a seq out of order. A terminal event at or below the cursor (the response ended
short of it) ends the stream: the reconnect is told `cursor_beyond_end`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Generic, TypeVar

from app.edge import sse
from app.edge.fanout import Fanout
from app.edge.history import History
from app.edge.metrics import Metrics
from app.edge.tracked import DATA, SEQ, TERMINAL, TS, Frame, Subscription, Tracked
from app.errors import CursorBeyondEnd, NotRetained, Unavailable

# A reader whose catch-up finds nothing new this many times in a row is ended (a hole in the
# log cannot be served); its client reconnects and gets a clear status instead of a gap.
MAX_IDLE_ROUNDS = 5
T = TypeVar("T")
Batches = AsyncGenerator[list[Frame], None]


def check_cursor(tracked: Tracked, after: int) -> bool:
    """False when nothing is left to send (the cursor holds the terminal seq: 204); raises
    CursorBeyondEnd past the end of a finished response."""
    final = tracked.final_seq
    if final and after > final:
        raise CursorBeyondEnd(f"cursor {after} is beyond the end of {tracked.rid} (seq {final})")
    return not (final and after == final)


class Reader:
    def __init__(
        self, fanout: Fanout, history: History, metrics: Metrics, heartbeat_s: float
    ) -> None:
        self.fanout = fanout
        self.history = history
        self.metrics = metrics
        self.heartbeat_s = heartbeat_s

    async def open(self, tracked: Tracked, after: int) -> Body[list[Frame]] | None:
        """Subscribe and start the backlog; None when the cursor holds the terminal event.

        Raises NotRetained / CursorBeyondEnd / Unavailable before any byte is sent."""
        if not check_cursor(tracked, after):
            return None
        sub = self.fanout.subscribe(tracked)
        backlog = self._backlog(tracked, after)
        try:
            first = await anext(backlog, None)
            # A catch-up read may have just learned how the response ended.
            if first is None and not check_cursor(tracked, after):
                await backlog.aclose()
                self.fanout.unsubscribe(tracked, sub)
                return None
        except BaseException:
            await backlog.aclose()
            self.fanout.unsubscribe(tracked, sub)
            raise

        async def release() -> None:
            self.fanout.unsubscribe(tracked, sub)

        return Body(self._follow(tracked, after, sub, backlog, first), release)

    def _backlog(self, tracked: Tracked, after: int) -> Batches:
        ring = tracked.frames_after(after)
        return _once(ring) if ring is not None else self.history.read(tracked, after)

    async def _follow(
        self, tracked: Tracked, pos: int, sub: Subscription, backlog: Batches,
        first: list[Frame] | None,
    ) -> AsyncIterator[list[Frame]]:  # fmt: skip
        self.metrics.connections.inc()
        begin, idle = pos, 0
        try:
            while True:
                start = pos
                async with aclosing(backlog):
                    batch = first
                    while batch is not None:
                        out = [f for f in batch if f[SEQ] > pos]
                        if out:
                            yield out
                            pos = out[-1][SEQ]
                            if out[-1][TERMINAL]:
                                return
                        batch = await anext(backlog, None)
                if tracked.final_seq and pos >= tracked.final_seq:
                    return
                while True:
                    frames = await sub.drain(self.heartbeat_s)
                    if frames is None:
                        break  # overflowed: catch up again
                    out, ended, gap = _next_frames(frames, pos)
                    if out:
                        pos = out[-1][SEQ]
                        yield out
                        # Back here once the write is done. One observation per write (not per
                        # event), of its oldest event, the write's worst: ~0.7 µs with the
                        # lock-free histogram (metrics.LatencyHistogram), under 1 % of a core at
                        # the knee's ~12,000 writes/s, where a locked one's 2.5 µs was ~3 %.
                        self.metrics.delivery.since_ms(out[0][TS])
                        if tracked.delivery is not None:  # the first event's first write
                            tracked.delivery.end()
                            tracked.delivery = None
                    elif not frames:
                        yield []  # idle: a heartbeat
                    if ended:
                        return
                    if gap:
                        break  # something was missed: catch up again
                idle = idle + 1 if pos == start else 0
                if idle >= MAX_IDLE_ROUNDS:
                    self.metrics.reconnects.labels("no_progress").inc()
                    return
                await asyncio.sleep(0.05 * idle)
                self.fanout.unsubscribe(tracked, sub)
                sub = self.fanout.subscribe(tracked)
                backlog = self._backlog(tracked, pos)
                first = await anext(backlog, None)
        except (NotRetained, Unavailable):
            self.metrics.reconnects.labels("catchup_failed").inc()
            return  # end the stream cleanly: the reconnect resumes or is told the status
        finally:
            self.fanout.unsubscribe(tracked, sub)
            self.metrics.connections.dec()
            self.metrics.events_out.inc(pos - begin)


def _next_frames(frames: list[Frame], pos: int) -> tuple[list[Frame], bool, bool]:
    """(frames to send, the response ended, a seq skipped) for live frames after `pos`."""
    out: list[Frame] = []
    for frame in frames:
        seq = frame[SEQ]
        if seq <= pos:
            if frame[TERMINAL]:
                return out, True, False  # it ended short of the cursor
            continue
        if seq != pos + 1:
            return out, False, True
        out.append(frame)
        pos = seq
        if frame[TERMINAL]:
            return out, True, False
    return out, False, False


class Body(Generic[T]):
    """A reader's stream. Closing it always releases its subscription, even when it was never
    iterated (a generator's `finally` only runs once it has started)."""

    def __init__(self, stream: AsyncIterator[T], release: Callable[[], Awaitable[None]]) -> None:
        self._stream = stream
        self._release = release

    def __aiter__(self) -> AsyncIterator[T]:
        # `async for` steps the stream itself: a wrapper's __anext__ on every item of every
        # reader measured ~4 % of the edge's CPU at 500 streams.
        return self._stream

    async def __anext__(self) -> T:
        return await self._stream.__anext__()

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._release()


async def _once(frames: list[Frame]) -> Batches:
    if frames:
        yield frames


def wire(feed: Body[list[Frame]]) -> Body[bytes]:
    """The SSE bytes of a single response's stream: a batch in as few writes as
    sse.WRITE_BYTES allows, a ping when idle."""

    async def stream() -> AsyncIterator[bytes]:
        async for batch in feed:
            if len(batch) == 1:
                yield batch[0][DATA]  # the usual live wake-up: one token
            elif not batch:
                yield sse.PING
            else:
                for chunk in sse.writes([f[DATA] for f in batch]):
                    yield chunk

    return Body(stream(), feed.aclose)
