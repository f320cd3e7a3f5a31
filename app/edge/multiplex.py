"""One SSE connection carrying several responses: `GET /v1/events?streams=RID1:12,RID2:0`.

Each response is read by its own `Reader` (resume.py: catch-up, live tail, no gap or repeat)
and their frames are merged as they come. Every event's SSE `id` is the whole position vector
(`RID1:13,RID2:5`), so the Last-Event-ID an EventSource sends back resumes all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from app.edge import sse
from app.edge.fanout import Tracked
from app.edge.resume import Body, Reader
from app.errors import BadCursor, BadRequest
from app.events import TERMINAL_TYPES

log = logging.getLogger(__name__)
# Frames waiting to be sent, across all of a connection's responses. A full queue stalls the
# readers, whose own bounded queues then overflow into catch-up reads: memory stays flat.
QUEUE_FRAMES = 256
MAX_RID = 200


def parse_streams(raw: str | None, max_streams: int) -> dict[str, int]:
    """`RID1:12,RID2` -> {RID1: 12, RID2: 0}, in the order given."""
    if not raw:
        raise BadRequest("give ?streams=RID1:N1,RID2:N2 (the responses and their positions)")
    out = _vector(raw)
    if len(out) > max_streams:
        raise BadRequest(f"at most {max_streams} streams per connection, got {len(out)}")
    return out


def resume_at(streams: dict[str, int], last_event_id: str | None) -> dict[str, int]:
    """Positions from a Last-Event-ID vector win over the query's, as on the single stream."""
    if not last_event_id:
        return streams
    held = _vector(last_event_id)
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


def _vector(raw: str) -> dict[str, int]:
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
    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def open(self, streams: list[tuple[Tracked, int]]) -> Body | None:
        """The merged stream, or None when every response's position holds its terminal event.

        Raises NotRetained (before any byte) if one response's position cannot be served."""
        positions = {tracked.rid: after for tracked, after in streams}
        bodies: list[tuple[str, Body]] = []
        try:
            for tracked, after in streams:
                if tracked.final_seq and after >= tracked.final_seq:
                    continue  # finished: it stays in the id vector, nothing to send
                bodies.append((tracked.rid, await self.reader.open(tracked, after)))
        except BaseException:
            await asyncio.gather(*(body.aclose() for _, body in bodies))
            raise
        if not bodies:
            return None

        async def release() -> None:
            await asyncio.gather(*(body.aclose() for _, body in bodies))

        return Body(self._merge(bodies, positions), release)

    async def _merge(
        self, bodies: list[tuple[str, Body]], positions: dict[str, int]
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[tuple[str, bytes | None]] = asyncio.Queue(QUEUE_FRAMES)
        pumps = [asyncio.create_task(_pump(rid, body, queue)) for rid, body in bodies]
        live = {rid for rid, _ in bodies}
        try:
            while live:
                rid, frame = await queue.get()
                if frame is None:
                    if rid in live:
                        # Its reader ended before the terminal event (it could not serve the
                        # position). End the connection: the reconnect resumes every response
                        # and gets that one's status (410) clearly.
                        return
                    continue
                seq, kind = frame_head(frame)
                positions[rid] = seq
                yield relabel(frame, vector(positions))
                if kind in TERMINAL_TYPES:
                    live.discard(rid)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)


async def _pump(rid: str, body: Body, queue: asyncio.Queue[tuple[str, bytes | None]]) -> None:
    """Feed one response's frames into the connection's queue, then None for its end."""
    try:
        async for frame in body:
            await queue.put((rid, frame))
    except Exception:
        log.exception("reader of %s failed", rid)
    finally:
        await body.aclose()
    await queue.put((rid, None))
