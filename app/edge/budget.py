"""The rings' shared budget: at most `per_ring` frames in each response's ring and `total` bytes
of SSE in all of them; past that, the least recently active ring is emptied first (its readers
catch up from Kafka instead)."""

from __future__ import annotations

from collections import OrderedDict

from app.edge.frame import Frame
from app.edge.tracked import Tracked


class RingBudget:
    def __init__(self, per_ring: int, total: int) -> None:
        self.per_ring, self.total = per_ring, total
        self.bytes = 0  # SSE bytes held in every ring
        self._lru: OrderedDict[str, Tracked] = (
            OrderedDict()
        )  # rings with frames, least recent first

    def remember(self, tracked: Tracked, frame: Frame) -> None:
        recent = tracked.recent
        before = recent.size
        recent.append(frame)
        if len(recent) > self.per_ring:
            recent.popleft()
        self.bytes += recent.size - before
        lru = self._lru
        lru[tracked.rid] = tracked
        lru.move_to_end(tracked.rid)
        while self.bytes > self.total and len(lru) > 1:
            _, oldest = lru.popitem(last=False)
            self._drop(oldest)

    def forget(self, tracked: Tracked) -> None:
        """A response leaving memory: its ring goes, and with it its bytes."""
        self._lru.pop(tracked.rid, None)
        self._drop(tracked)

    def _drop(self, tracked: Tracked) -> None:
        self.bytes -= tracked.recent.size
        tracked.recent.clear()
