"""The byte budget over every response's ring of recent frames (Tracked.recent).

Each ring keeps at most `edge_buffer_events` frames; all of them together at most
`edge_buffer_bytes` of SSE. Past the budget the least recently written rings are emptied whole
(a reader of one catches up from Kafka: resume.py), never the one just written to. Frames are
counted by their SSE bytes, the part that varies (a delta may carry up to 16 KiB).
"""

from __future__ import annotations

from collections import OrderedDict

from app.edge.tracked import DATA, Frame, Tracked


class Rings:
    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.bytes = 0  # SSE bytes held in all rings
        self._lru: OrderedDict[str, Tracked] = OrderedDict()  # rings with frames, oldest first

    def remember(self, tracked: Tracked, frame: Frame) -> None:
        ring = tracked.recent
        ring.append(frame)
        self.bytes += len(frame[DATA])
        if len(ring) > self.max_events:
            self.bytes -= len(ring.popleft()[DATA])
        lru = self._lru
        lru[tracked.rid] = tracked
        lru.move_to_end(tracked.rid)
        while self.bytes > self.max_bytes and len(lru) > 1:
            _, oldest = lru.popitem(last=False)
            self._empty(oldest)

    def drop(self, tracked: Tracked) -> None:
        """`tracked` leaves memory: its ring is emptied and forgotten."""
        self._lru.pop(tracked.rid, None)
        self._empty(tracked)

    def _empty(self, tracked: Tracked) -> None:
        self.bytes -= sum(len(f[DATA]) for f in tracked.recent)
        tracked.recent.clear()
