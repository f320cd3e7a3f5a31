"""One response's ring of recent frames, packed: its SSE bytes in one buffer, its texts in
another, and each frame's seq, ends, source and flags in arrays.

Why packed (make soak, 300 responses × 10 tokens/s, an edge holding ~1,000 responses' rings):
as tuples, each frame was six small objects (the tuple, its bytes, text, source, seq and ts),
~420 B for ~110 B of SSE. They were ~150 MiB of Python's small-object arenas, churned at 3,000
frames a second with lifetimes of a minute or more, and the arenas crept up by fragmentation
(+5 % in ten minutes). Packed, a frame costs its bytes plus ~40 B and no object of its own. The
tuples are rebuilt only for a reader catching up from the ring (resume, snapshot), per call.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator

from app.edge.frame import Frame

TERMINAL_BIT = 1
TEXT_BIT = 2  # the frame has text (None and "" differ: a `done` event has none)
SOURCE_SHIFT = 2
COMPACT_AFTER = 256  # dropped frames kept in the arrays before they are moved out


class Ring:
    """Frames in seq order; `popleft` drops the oldest, `clear` all. Offsets into the two
    buffers are absolute (bytes ever appended), so dropping from the front moves no index."""

    __slots__ = (
        "_data", "_text", "_dbase", "_tbase", "_dfirst", "_tfirst", "_seq", "_dend", "_tend",
        "_meta", "_ts", "_head", "_sources", "_source_ids", "size",
    )  # fmt: skip

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._data, self._text = bytearray(), bytearray()
        self._dbase = self._tbase = 0  # absolute offset of each buffer's first byte
        self._dfirst = self._tfirst = 0  # absolute offset where the oldest frame starts
        self._seq, self._dend, self._tend = array("q"), array("q"), array("q")
        self._meta, self._ts = array("q"), array("d")
        self._head = 0  # index (in the arrays) of the oldest frame
        self._sources: list[str] = []
        self._source_ids: dict[str, int] = {}
        self.size = 0  # bytes of SSE held: what the fan-out's budget counts

    def __len__(self) -> int:
        return len(self._seq) - self._head

    def append(self, frame: Frame) -> None:
        seq, data, terminal, source, text, ts = frame
        sid = self._source_ids.get(source)
        if sid is None:
            sid = self._source_ids[source] = len(self._sources)
            self._sources.append(source)
        self._data += data
        meta = sid << SOURCE_SHIFT | (TERMINAL_BIT if terminal else 0)
        if text is not None:
            self._text += text.encode()
            meta |= TEXT_BIT
        self._seq.append(seq)
        self._dend.append(self._dbase + len(self._data))
        self._tend.append(self._tbase + len(self._text))
        self._meta.append(meta)
        self._ts.append(ts)
        self.size += len(data)

    def popleft(self) -> None:
        head = self._head
        end = self._dend[head]
        self.size -= end - self._dfirst
        self._dfirst, self._tfirst = end, self._tend[head]
        self._head = head + 1
        if self._head >= COMPACT_AFTER and self._head * 2 >= len(self._seq):
            self._compact()

    def first_seq(self) -> int:
        """The oldest frame's seq (the ring is not empty)."""
        return self._seq[self._head]

    def after(self, seq: int) -> list[Frame]:
        """The frames with a seq above `seq`, rebuilt as tuples."""
        return self._frames(bisect_right(self._seq, seq, self._head), len(self._seq))

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._frames(self._head, len(self._seq)))

    def __getitem__(self, k: int) -> Frame:
        n = len(self)
        if not -n <= k < n:
            raise IndexError("ring index out of range")
        i = self._head + (k % n)
        return self._frames(i, i + 1)[0]

    def _frames(self, lo: int, hi: int) -> list[Frame]:
        """Frames lo..hi-1 (array indexes) as tuples: one pass, names bound once (a catch-up
        read rebuilds hundreds: ~0.5 µs each, ~0.7 µs through attribute lookups)."""
        seqs, dend, tend, metas, tss = self._seq, self._dend, self._tend, self._meta, self._ts
        text, sources, dbase, tbase = self._text, self._sources, self._dbase, self._tbase
        first = lo == self._head
        d0 = (self._dfirst if first else dend[lo - 1]) - dbase
        t0 = (self._tfirst if first else tend[lo - 1]) - tbase
        out: list[Frame] = []
        with memoryview(self._data) as data:
            for i in range(lo, hi):
                d1, t1, meta = dend[i] - dbase, tend[i] - tbase, metas[i]
                out.append((
                    seqs[i],
                    data[d0:d1].tobytes(),
                    bool(meta & TERMINAL_BIT),
                    sources[meta >> SOURCE_SHIFT],
                    text[t0:t1].decode() if meta & TEXT_BIT else None,
                    tss[i],
                ))  # fmt: skip
                d0, t0 = d1, t1
        return out

    def _compact(self) -> None:
        """Move the dropped frames out: their bytes and their array slots."""
        del self._data[: self._dfirst - self._dbase]
        del self._text[: self._tfirst - self._tbase]
        self._dbase, self._tbase = self._dfirst, self._tfirst
        head = self._head
        for column in (self._seq, self._dend, self._tend, self._meta, self._ts):
            del column[:head]
        self._head = 0
