"""Pure SSE wire formatting and cursor parsing: no I/O, golden-tested byte for byte."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from app.errors import BadCursor
from app.events import Event, encode

PING = b": ping\n\n"
# The most one socket write carries. asyncio pauses a writer once its transport buffers 64 KiB;
# a larger write is copied whole into that buffer, so joining a reader's whole backlog (a ring
# of 16 KiB deltas) would hold megabytes per reader. Measured in test_slow_reader: 20 readers
# catching up from the ring grew the edge by 110 MiB with one write per batch.
WRITE_BYTES = 64 << 10
_DECIMAL = re.compile(r"[0-9]{1,18}")


def frame(event: Event, stored: bytes | None = None) -> bytes:
    """One event as an SSE message: id is the seq, event the type, data one line of JSON.

    `stored` is the event's Kafka value: the writer wrote it with `events.encode`, so it is
    already the data line, and the edge need not encode every event a second time.
    """
    data = stored if stored is not None and b"\n" not in stored else encode(event)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), data)


def writes(frames: Iterable[bytes], limit: int = WRITE_BYTES) -> Iterator[bytes]:
    """The frames joined into as few writes as keep each under `limit` bytes (a frame larger
    than that is a write of its own)."""
    out: list[bytes] = []
    size = 0
    for data in frames:
        if out and size + len(data) > limit:
            yield b"".join(out)
            out, size = [], 0
        out.append(data)
        size += len(data)
    if out:
        yield b"".join(out)


def retry_hint(ms: int) -> bytes:
    return b"retry: %d\n\n" % ms


def parse_cursor(last_event_id: str | None, after: str | None) -> int:
    """The position a reader holds: `Last-Event-ID` header wins over `?after=`; none is 0."""
    raw = last_event_id if last_event_id not in (None, "") else after
    if raw is None:
        return 0
    raw = raw.strip()
    if not _DECIMAL.fullmatch(raw):
        raise BadCursor(f"cursor {raw[:40]!r} is not a non-negative decimal integer")
    return int(raw)
