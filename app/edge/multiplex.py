"""One SSE connection carrying several responses: `GET /v1/events?streams=RID1:12,RID2:0`.

Each response is read by its own `Reader` (resume.py: catch-up, live tail, no gap or repeat)
and their frames are merged as they come. Every event's SSE `id` is the whole position vector
(`RID1:13,RID2:5`), so the Last-Event-ID an EventSource sends back resumes all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Generic, TypeVar

from app.edge import sse
from app.edge.resume import Body, Reader
from app.edge.tracked import DATA, SEQ, TERMINAL, Frame, Tracked
from app.errors import BadCursor, BadRequest, TooManyStreams

log = logging.getLogger(__name__)
# Batches waiting to be sent, across all of a connection's responses. A full queue stalls the
# readers, whose own bounded queues then overflow into catch-up reads: memory stays flat.
QUEUE_BATCHES = 256
MAX_RID = 200
T = TypeVar("T")


def parse_streams(raw: str | None, max_streams: int) -> dict[str, int]:
    """`RID1:12,RID2` -> {RID1: 12, RID2: 0}, in the order given."""
    if not raw:
        raise BadRequest("give ?streams=RID1:N1,RID2:N2 (the responses and their positions)")
    out = parse_vector(raw)
    if len(out) > max_streams:
        raise TooManyStreams(f"at most {max_streams} streams per connection, got {len(out)}")
    return out


def resume_at(streams: dict[str, int], last_event_id: str | None) -> dict[str, int]:
    """Positions from a Last-Event-ID vector win over the query's, as on the single stream."""
    if not last_event_id:
        return streams
    held = parse_vector(last_event_id)
    unknown = set(held) - set(streams)
    if unknown:
        raise BadCursor(f"Last-Event-ID names responses not in ?streams=: {sorted(unknown)[:5]}")
    return {rid: held.get(rid, pos) for rid, pos in streams.items()}


def vector(positions: dict[str, int]) -> bytes:
    return ",".join(f"{rid}:{pos}" for rid, pos in positions.items()).encode()


def relabel(frame: bytes, ids: bytes) -> bytes:
    """A single-response frame (`id: <seq>` first) with `ids` as its id instead."""
    return b"id: " + ids + frame[frame.index(b"\n") :]


def frame_head(frame: bytes) -> tuple[int, str]:
    """(seq, type) of a frame as app.edge.sse.frame lays it out: `id:`, then `event:`."""
    first, second = frame.split(b"\n", 2)[:2]
    return int(first[4:]), second[7:].decode()


def parse_vector(raw: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in raw.split(","):
        rid, colon, pos = item.strip().rpartition(":")
        if not colon:
            rid, pos = pos, "0"
        if not rid or len(rid) > MAX_RID:
            raise BadCursor(f"stream {item[:60]!r} is not RID:N")
        if rid in out:
            raise BadCursor(f"response {rid[:60]!r} is named twice")
        out[rid] = sse.parse_cursor(pos, None)
    return out


class Multiplex:
    def __init__(self, reader: Reader, heartbeat_s: float) -> None:
        self.reader = reader
        self.heartbeat_s = heartbeat_s

    async def open(self, streams: list[tuple[Tracked, int]]) -> Body[bytes] | None:
        """The merged stream, or None when every response's position holds its terminal event.

        Raises NotRetained / CursorBeyondEnd (before any byte) if one position cannot be served."""
        positions = {tracked.rid: after for tracked, after in streams}
        feeds: list[tuple[str, Body[list[Frame]]]] = []
        try:
            for tracked, after in streams:
                feed = await self.reader.open(tracked, after)
                if feed is not None:  # None: finished, it stays in the id vector
                    feeds.append((tracked.rid, feed))
        except BaseException:
            await asyncio.gather(*(feed.aclose() for _, feed in feeds))
            raise
        if not feeds:
            return None

        async def release() -> None:
            await asyncio.gather(*(feed.aclose() for _, feed in feeds))

        return Body(self._merge(feeds, positions), release)

    async def _merge(
        self, feeds: list[tuple[str, Body[list[Frame]]]], positions: dict[str, int]
    ) -> AsyncIterator[bytes]:
        merge: Merge[Frame] = Merge()
        for rid, feed in feeds:
            merge.join(rid, feed)
        live = {rid for rid, _ in feeds}
        try:
            while live:
                ready = await merge.ready(self.heartbeat_s)
                if not ready:
                    yield sse.PING
                    continue
                out: list[bytes] = []
                for rid, batch in ready:
                    if batch is None:
                        if rid in live:
                            # Its reader ended before the terminal event (it could not serve the
                            # position). End the connection: the reconnect resumes every response
                            # and gets that one's status clearly.
                            live.clear()
                            break
                    else:
                        for frame in batch:
                            positions[rid] = frame[SEQ]
                            out.append(relabel(frame[DATA], vector(positions)))
                            if frame[TERMINAL]:
                                live.discard(rid)
                for chunk in sse.writes(out):  # everything ready, across responses
                    yield chunk
        finally:
            await merge.close()


class Merge(Generic[T]):
    """Readers' batches through one bounded queue, as they come; a reader may join at any time
    (a conversation's new response, conversations.py). `ready` gives everything queued at a
    wake-up, as (key, batch) and (key, None) once that reader has ended."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, list[T] | None]] = asyncio.Queue(QUEUE_BATCHES)
        self._pumps: list[asyncio.Task[None]] = []

    def join(self, key: str, feed: AsyncIterable[list[T]]) -> None:
        self._pumps = [p for p in self._pumps if not p.done()]
        self._pumps.append(asyncio.create_task(_pump(key, feed, self.queue)))

    async def ready(self, timeout_s: float) -> list[tuple[str, list[T] | None]]:
        """What is queued at the next wake-up; [] when nothing came for `timeout_s`."""
        try:
            out = [await asyncio.wait_for(self.queue.get(), timeout_s)]
        except TimeoutError:
            return []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)


async def _pump(
    key: str, feed: AsyncIterable[list[T]], queue: asyncio.Queue[tuple[str, list[T] | None]]
) -> None:
    """Feed one reader's batches into the connection's queue, then None for its end."""
    try:
        async for batch in feed:
            if batch:  # a reader's idle heartbeat: the connection sends its own
                await queue.put((key, batch))
    except Exception:
        log.exception("reader of %s failed", key)
    await queue.put((key, None))
