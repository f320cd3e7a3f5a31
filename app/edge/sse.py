"""Pure SSE wire formatting and cursor parsing: no I/O, golden-tested byte for byte."""

from __future__ import annotations

import re

import orjson

from app.errors import BadCursor
from app.events import Event

PING = b": ping\n\n"
_DECIMAL = re.compile(r"[0-9]{1,18}")


def frame(event: Event) -> bytes:
    """One event as an SSE message: id is the seq, event the type, data one line of JSON."""
    data = orjson.dumps(event.to_dict())  # orjson never emits a raw newline
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
