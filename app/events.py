"""The one wire contract of <prefix>.events: every record is an `Event`.

A response's single writer (app/producer.py) assigns `seq` 1, 2, 3 ... across its sources and
event types; readers apply app/ordering.py's rule to what they read.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import orjson

from app.errors import DecodeError

DELTA = "delta"
SOURCE_DONE = "source.done"
DONE = "done"
ERROR = "error"
CANCELLED = "cancelled"

TERMINAL_TYPES = frozenset({DONE, ERROR, CANCELLED})
CLIENT_TYPES = frozenset({DELTA, SOURCE_DONE}) | TERMINAL_TYPES
ALL_TYPES = CLIENT_TYPES

_OPTIONAL = ("text", "retriable", "code", "message", "status")


@dataclass(frozen=True, slots=True)
class Event:
    rid: str
    type: str
    source: str = "answer"
    seq: int = 0
    ts: float = 0.0
    text: str | None = None
    retriable: bool | None = None
    code: str | None = None
    message: str | None = None
    status: int | None = None  # on `error`: the upstream's HTTP status, when it gave one

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def with_seq(self, seq: int) -> Event:
        return dataclasses.replace(self, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rid": self.rid,
            "source": self.source,
            "seq": self.seq,
            "type": self.type,
            "ts": self.ts,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def now_ms() -> float:
    return time.time() * 1000.0


def encode(event: Event) -> bytes:
    return orjson.dumps(event.to_dict())


def decode(raw: bytes | None) -> Event:
    """Parse and validate one message value; any defect raises DecodeError."""
    if raw is None:
        raise DecodeError("empty message value")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DecodeError("value is not a JSON object")
    try:
        event = Event(
            rid=_typed(obj, "rid", str),
            type=_typed(obj, "type", str),
            source=_typed(obj, "source", str),
            seq=_typed(obj, "seq", int),
            ts=float(_typed(obj, "ts", (int, float))),
            text=_optional(obj, "text", str),
            retriable=_optional(obj, "retriable", bool),
            code=_optional(obj, "code", str),
            message=_optional(obj, "message", str),
            status=_optional(obj, "status", int),
        )
    except (TypeError, ValueError) as exc:
        raise DecodeError(str(exc)) from None
    if event.type not in ALL_TYPES:
        raise DecodeError(f"unknown event type {event.type!r}")
    if not event.rid:
        raise DecodeError("empty rid")
    if event.seq < 1:
        raise DecodeError("seq must be 1 or more")
    if event.type == DELTA and event.text is None:
        raise DecodeError("delta without text")
    return event


def _typed(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    # bool is an int in Python; a seq of `true` is still malformed.
    if value is None or isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise TypeError(f"field {name!r} missing or not {kind}")
    return value


def _optional(obj: dict[str, Any], name: str, kind: type) -> Any:
    if obj.get(name) is None:
        return None
    return _typed(obj, name, kind)
