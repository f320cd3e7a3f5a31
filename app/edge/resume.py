"""One reader's stream: catch up from the ring or Kafka, then follow the live fan-out.

The subscription is taken before the backlog is read, so nothing falls between them; frames
the two share are dropped by seq. An overflowed queue or a seq that skips ends the live phase
and the reader catches up again from where it is. It never yields a seq out of order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from app.edge.fanout import Fanout, Frame, Subscription, Tracked
from app.edge.history import History
from app.edge.metrics import Metrics
from app.errors import NotRetained

# A reader whose catch-up finds nothing new this many times in a row is ended (a hole in the
# log cannot be served); its client reconnects and gets a clear status instead of a gap.
MAX_IDLE_ROUNDS = 5


class Reader:
    def __init__(self, fanout: Fanout, history: History, metrics: Metrics) -> None:
        self.fanout = fanout
        self.history = history
        self.metrics = metrics

    async def open(self, tracked: Tracked, after: int) -> Body:
        """Subscribe and start the backlog; raises NotRetained before any byte is sent."""
        sub = self.fanout.subscribe(tracked)
        try:
            backlog, first = await self._backlog(tracked, after)
        except BaseException:
            self.fanout.unsubscribe(tracked, sub)
            raise

        async def release() -> None:
            self.fanout.unsubscribe(tracked, sub)

        return Body(self._follow(tracked, after, sub, backlog, first), release)

    async def _backlog(
        self, tracked: Tracked, after: int
    ) -> tuple[AsyncIterator[Frame], Frame | None]:
        ring = tracked.frames_after(after)
        backlog = _iterate(ring) if ring is not None else self.history.read(tracked, after)
        first = await anext(backlog, None)
        return backlog, first

    async def _follow(
        self,
        tracked: Tracked,
        pos: int,
        sub: Subscription,
        backlog: AsyncIterator[Frame],
        first: Frame | None,
    ) -> AsyncIterator[bytes]:
        self.metrics.connections.inc()
        begin, idle = pos, 0
        try:
            while True:
                start = pos
                async for frame in _prepend(first, backlog):
                    if frame.seq == pos + 1:
                        yield frame.data
                        pos = frame.seq
                        if frame.event.terminal:
                            return
                if tracked.final_seq and pos >= tracked.final_seq:
                    return
                while True:
                    live = await sub.get()
                    if live is None or live.seq > pos + 1:
                        break  # overflowed, or something was missed: catch up again
                    if live.seq == pos + 1:
                        yield live.data
                        pos = live.seq
                        if live.event.terminal:
                            return
                idle = idle + 1 if pos == start else 0
                if idle >= MAX_IDLE_ROUNDS:
                    return
                await asyncio.sleep(0.05 * idle)
                self.fanout.unsubscribe(tracked, sub)
                sub = self.fanout.subscribe(tracked)
                try:
                    backlog, first = await self._backlog(tracked, pos)
                except NotRetained:
                    return  # the reconnect will be told 410
        finally:
            self.fanout.unsubscribe(tracked, sub)
            self.metrics.connections.dec()
            self.metrics.events_out.inc(pos - begin)


class Body:
    """A reader's SSE bytes. Closing it always releases its subscription, even when it was never
    iterated (a generator's `finally` only runs once it has started)."""

    def __init__(
        self, stream: AsyncGenerator[bytes, None], release: Callable[[], Awaitable[None]]
    ) -> None:
        self._stream = stream
        self._release = release

    def __aiter__(self) -> Body:
        return self

    async def __anext__(self) -> bytes:
        return await self._stream.__anext__()

    async def aclose(self) -> None:
        await self._stream.aclose()
        await self._release()


async def _prepend(first: Frame | None, rest: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
    if first is not None:
        yield first
    async for frame in rest:
        yield frame


async def _iterate(frames: list[Frame]) -> AsyncIterator[Frame]:
    for frame in frames:
        yield frame
