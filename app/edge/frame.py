"""One event as the edge's readers get it: a plain tuple, framed once for every reader."""

from __future__ import annotations

from typing import Final

from app.events import Event

# One event as readers get it: (seq, SSE bytes framed once for every reader, terminal, source,
# text, ts: its writer's clock in epoch ms, for the delivery latency), read as frame[SEQ] ...
# A plain tuple, not an object, on purpose: CPython's collector stops tracking a tuple of
# atomic values, and the rings hold up to ~10^6 frames. Held as objects (a frame and its
# Event), they were 460,000 of the edge's 527,000 tracked objects at 500 responses × 30
# tokens/s, and its full collections took ~200 ms every ~3 s: most of the p99.
Frame = tuple[int, bytes, bool, str, str | None, float]
# Literal indexes (Final), so a type checker knows each field's type in `frame[SEQ]`.
SEQ: Final = 0
DATA: Final = 1
TERMINAL: Final = 2
SOURCE: Final = 3
TEXT: Final = 4
TS: Final = 5


def frame_of(event: Event, data: bytes) -> Frame:
    return (event.seq, data, event.terminal, event.source, event.text, event.ts)
