"""Pure SSE wire formatting and cursor parsing: no I/O, golden-tested byte for byte."""

from __future__ import annotations

import re

from app.errors import BadCursor, TokenRelayError
from app.events import Event, encode

PING = b": ping\n\n"
_DECIMAL = re.compile(r"[0-9]{1,18}")


class CursorBeyondEnd(TokenRelayError):
    """A resume position past the terminal event of a finished response."""

    code = "cursor_beyond_end"


def frame(event: Event, stored: bytes | None = None) -> bytes:
    """One event as an SSE message: id is the seq, event the type, data one line of JSON.

    `stored` is the event's Kafka value: the writer wrote it with `events.encode`, so it is
    already the data line, and the edge need not encode every event a second time.
    """
    data = stored if stored is not None and b"\n" not in stored else encode(event)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), data)


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
