"""A bounded directory of finished responses that left the edge's memory: where to find each
in Kafka and how it ended, so a late reader needs no search of the index.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from app.edge.tracked import Tracked


@dataclass(frozen=True, slots=True)
class Entry:
    rid: str
    partition: int
    first: int | None  # offset of its first event in <prefix>.events
    created: float  # epoch ms, 0 if unknown
    final_seq: int
    status: str
    views: tuple[str, ...] | None = None  # what it asked for: the edge withholds by it
    cached_from: str | None = None  # the response cache's source (its snapshot says so)

    @classmethod
    def of(cls, tracked: Tracked) -> Entry:
        first = tracked.first
        if first is None and tracked.checkpoints and tracked.checkpoints[0][0] == 1:
            first = tracked.checkpoints[0][1]
        return cls(
            tracked.rid, tracked.partition, first, tracked.created, tracked.final_seq,
            tracked.status, tracked.views, tracked.cached_from,
        )  # fmt: skip

    def tracked(self) -> Tracked:
        """A detached Tracked for a reader: finished, nothing in a ring, read from Kafka."""
        out = Tracked(self.rid, self.partition, created=self.created, first=self.first,
                      views=self.views, cached_from=self.cached_from)  # fmt: skip
        out.settle(self.status, self.final_seq)
        return out


class Directory:
    """Least recently used first out, at most `size` entries. Held as plain tuples of atomic
    values, which the garbage collector stops tracking: 100,000 objects would be walked by every
    full collection (see Frame in tracked.py)."""

    def __init__(self, size: int) -> None:
        self.size = size
        # (partition, first, created, final_seq, status, views, cached_from): a tuple of
        # strings is atomic too
        self._entries: OrderedDict[str, tuple[Any, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, rid: object) -> bool:
        return rid in self._entries

    def get(self, rid: str) -> Entry | None:
        held = self._entries.get(rid)
        if held is None:
            return None
        self._entries.move_to_end(rid)
        return Entry(rid, *held)

    def put(self, entry: Entry) -> None:
        if self.size <= 0:
            return
        self._entries[entry.rid] = (
            entry.partition, entry.first, entry.created, entry.final_seq, entry.status,
            entry.views, entry.cached_from,
        )  # fmt: skip
        self._entries.move_to_end(entry.rid)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
