"""Replay beyond Kafka's retention: a finished response's streams as the persist agent stored
them (app/storage/), framed exactly as a catch-up read frames what Kafka serves.

Asked only when Kafka no longer holds what a reader needs (history.py, on `not retained`) or holds
no index record of the id (lookup.py): a response Kafka still has never costs a database query.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import events
from app.edge import sse
from app.edge.metrics import Metrics
from app.edge.tracked import Frame, Tracked, frame_of, key_parts
from app.errors import Unavailable
from app.storage.records import RAW
from app.storage.store import Store


@dataclass(frozen=True, slots=True)
class Replay:
    frames: list[Frame]  # the frames after the reader's position
    status: str  # how the stream ended (its terminal event's type), or in_progress
    final_seq: int  # its terminal event's seq, 0 if the stored log has none


class Archive:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    async def find(self, rid: str) -> Tracked | None:
        """A stored response as a finished Tracked marked `archived`, or None."""
        try:
            stored = await self.store.get(rid)
        except Exception as exc:  # the database: any fault of its driver
            raise Unavailable(f"storage failed during a lookup: {exc!r}") from None
        if stored is None:
            return None
        tracked = Tracked(
            rid, stored.partition, stored.created_ms, views=stored.views, archived=True,
            cached_from=stored.cached_from,
        )  # fmt: skip
        tracked.settle(stored.status, stored.last_seq)
        return tracked

    async def replay(self, tracked: Tracked, after: int) -> Replay | None:
        """The stored frames of a stream (a response's, or a view's) after `after`, or None
        when storage does not hold it."""
        rid, view = key_parts(tracked.rid)
        try:
            values = await self.store.log(rid, RAW if view is None else view)
        except Exception as exc:
            raise Unavailable(f"storage failed during a replay: {exc!r}") from None
        if values is None:
            return None
        self.metrics.archive_reads.inc()
        frames: list[Frame] = []
        status, final = tracked.status, 0
        for value in values:
            event = events.decode(value)  # stored only after it decoded once
            if event.terminal:
                status, final = event.type, event.seq
            if event.seq > after:
                frames.append(frame_of(event, sse.frame(event, value)))
        return Replay(frames, status, final)
