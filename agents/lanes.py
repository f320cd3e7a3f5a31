"""Views whose transform awaits (`async def feed`: an external classifier): each such view of a
response gets a lane, a queue of its raw events and a task that feeds them one at a time.

The views runner (agents/views.py) stays synchronous for every other transform: it hands a
lane each accepted raw event (a `put_nowait`, no await) and goes on with the batch, so a slow
classifier delays only that view of that response. Within a lane the raw events are fed in seq
order and each feed's events are numbered and sent before the next feed starts, so the view's
events reach Kafka in seq order. The queue is unbounded on purpose: it holds at most one
response's raw events, which the runner has read anyway.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from agents.transforms.base import Out
from app.errors import ViewFailed
from app.events import Event

log = logging.getLogger(__name__)

# A transform that raised: the same raw events make it raise again (on a replay too), so a
# retry cannot help.
FAILED: Out = {"type": "error", "retriable": ViewFailed.retriable, "code": ViewFailed.code,
               "message": "this view's transform failed; the raw stream is unaffected"}  # fmt: skip
Emit = Callable[[Event, list[Out]], list[asyncio.Future[int]]]


def awaits(transform: Any) -> bool:
    """Whether a transform's `feed` is a coroutine function (checked once per view)."""
    return inspect.iscoroutinefunction(getattr(transform, "feed", None))


class Lane:
    """One view of one response. `emit` numbers a feed's events and sends them (the runner's
    code, shared with the synchronous views); `ended()` says the view wrote its terminal event;
    `on_end` runs once the lane stops, however it stops."""

    def __init__(
        self, name: str, transform: Any, emit: Emit, ended: Callable[[], bool],
        on_end: Callable[[], None],
    ) -> None:  # fmt: skip
        self.name = name
        self.transform = transform
        self.emit = emit
        self.ended = ended
        self.on_end = on_end
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"view-lane-{name}")

    def put(self, event: Event) -> None:
        if not self.task.done():
            self.queue.put_nowait(event)

    def cancel(self) -> None:
        self.task.cancel()

    async def _run(self) -> None:
        event: Event | None = None
        try:
            while not self.ended():
                event = await self.queue.get()
                made = await self.transform.feed(event)
                sent = self.emit(event, made)
                if sent:
                    results = await asyncio.gather(*sent, return_exceptions=True)
                    failed = [r for r in results if isinstance(r, BaseException)]
                    if failed:
                        log.error("view %s: %d events not stored: %r", self.name, len(failed),
                                  failed[0])  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in a transform: its view ends here rather than leave its readers waiting.
            log.exception("view %s failed", self.name)
            if event is not None and not self.ended():
                self.emit(event, [FAILED])
        finally:
            try:
                close = getattr(self.transform, "aclose", None)
                if close is not None:
                    await close()
            finally:
                self.on_end()
