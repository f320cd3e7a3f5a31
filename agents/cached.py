"""The worker's half of the response cache: a stored response's events, replayed as a new
response through the usual generation path, with no model call.

`StoredAnswer` is a model adapter over the stored log: each call of the request (the same calls,
by the hash that matched) yields what the stored call wrote, in order: text, tool calls,
citations. `run_response` does the rest as for any model (seq, coalescing, `source.done`, `done`,
cancel, the summary), so readers, views, persistence and the snapshot cannot tell the
difference. A replay spends no tokens: its `source.done` carries no usage.

Pace: `full` yields everything at once (the writer coalesces it into a few deltas); `recorded`
keeps the stored events' `ts` gaps, each capped at MAX_GAP_S, on one schedule shared by all the
calls, so several sources interleave as they did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from agents.models.base import Citation, Item, ModelAdapter, ToolCall
from app import events
from app.cache import RECORDED, CacheHit
from app.contract.requests import Call
from app.errors import CacheUnavailable
from app.storage.records import RAW
from app.storage.store import Store

# A long pause in the recorded stream (a slow tool, an upstream stall) is not worth repeating.
MAX_GAP_S = 1.0


class StoredAnswer:
    """A ModelAdapter over one stored response's events (`schedule` says when each is due)."""

    def __init__(
        self,
        schedule: dict[str, list[tuple[float, Item]]],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.schedule = schedule
        self.clock = clock
        self.sleep = sleep
        self._start: float | None = None  # the first call's start: every call's time zero

    def adapter(self, model: str) -> ModelAdapter:
        return self  # every call of the request reads the same stored response

    async def stream(self, call: Call) -> AsyncIterator[Item]:
        if self._start is None:
            self._start = self.clock()
        for due, item in self.schedule.get(call.source, ()):
            delay = self._start + due - self.clock()
            if delay > 0:
                await self.sleep(delay)
            yield item


def plan(values: Sequence[bytes], pace: str) -> dict[str, list[tuple[float, Item]]]:
    """Per source, (seconds after the start, item) of the stored events that a model wrote.
    `source.done` and the terminal event are left to run_response, which writes its own."""
    out: dict[str, list[tuple[float, Item]]] = {}
    due, last_ts = 0.0, None
    for value in values:
        event = events.decode(value)
        if event.terminal:
            break
        if pace == RECORDED and last_ts is not None:
            due += min(max(event.ts - last_ts, 0.0) / 1000, MAX_GAP_S)
        last_ts = event.ts
        item = _item(event)
        if item is not None:
            out.setdefault(event.source, []).append((due, item))
    return out


def _item(event: events.Event) -> Item | None:
    if event.type == events.DELTA:
        return event.text or None
    if event.type == events.TOOL_CALL:
        return ToolCall(event.call_id or "", event.name or "", event.arguments)
    if event.type == events.CITATION:
        return Citation(event.ref if isinstance(event.ref, dict) else {"ref": event.ref})
    return None


async def load(store: Store | None, hit: CacheHit) -> StoredAnswer:
    """The stored answer the edge chose; UpstreamError (retriable) if storage no longer gives it
    (deleted since the POST, or the database is down): the response was announced as cached, so
    running the model instead would break that promise."""
    try:
        values = await store.log(hit.rid, RAW) if store is not None else None
        if values is None:
            raise LookupError(f"{hit.rid} is not stored")
        return StoredAnswer(plan(values, hit.pace))
    except Exception as exc:  # not stored, undecodable, or any fault of the database driver
        raise CacheUnavailable(f"the cached response {hit.rid} could not be read: {exc}") from None
