"""The responses index (<prefix>.responses, compacted, key = response id): one small record per
change of a response's lifecycle, never one per token.

`open` (created; from the edge's POST or the SDK's `open`), `beat` (the writer is alive: once when
a worker takes the request, then its last write and its last stored event at most every
`writer_beat_s`), and the terminal state once the
terminal event is stored. The events log stays the truth: a reader takes a response's outcome
from its events; this index says where to find them and lets the watchdog see silent writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from app.errors import DecodeError
from app.events import TERMINAL_TYPES

OPEN = "open"
BEAT = "beat"
STATES = frozenset({OPEN, BEAT}) | TERMINAL_TYPES
MAX_PARTITION = 2**31  # Kafka's partition numbers are int32
MAX_MS = 2**53  # epoch ms: well past any clock, and exact as a float
MAX_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class IndexRecord:
    rid: str
    state: str
    partition: int  # of <prefix>.events (and of this topic: they are co-partitioned)
    created: float  # epoch ms
    ts: float  # the writer's last write (epoch ms)
    seq: int = 0  # the last seq stored
    first: int | None = None  # offset of the response's first event in <prefix>.events
    last: int | None = None  # offset of its last stored event
    # What the transforms make of it (app/views.py): its views, named in every record so an
    # edge can tell an unasked view from a late one; their options only in `open`.
    views: tuple[str, ...] = ()
    options: dict[str, Any] | None = None
    # Terminal records only: what the whole response used and took (app/summary.py).
    summary: dict[str, Any] | None = None
    # A response the cache answered (app/cache.py): the response whose stored events it
    # replays. In every record of it, as `views` are, so compaction keeps it.
    cached_from: str | None = None
    # `open` of a conversation's turn (app/conversation.py): {"id", "turn", "prompt"}, so every
    # edge learns the conversation's new responses from the index it already reads.
    conversation: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_TYPES

    def encode(self) -> bytes:
        out: dict[str, Any] = {
            "rid": self.rid,
            "state": self.state,
            "partition": self.partition,
            "created": self.created,
            "ts": self.ts,
            "seq": self.seq,
            "first": self.first,
            "last": self.last,
        }
        if self.views:
            out["views"] = list(self.views)
        if self.options:
            out["options"] = self.options
        if self.summary:
            out["summary"] = self.summary
        if self.cached_from:
            out["cached_from"] = self.cached_from
        if self.conversation:
            out["conversation"] = self.conversation
        return orjson.dumps(out)


def decode(raw: bytes | None) -> IndexRecord:
    try:
        obj: Any = orjson.loads(raw or b"")
        if not isinstance(obj, dict):
            raise TypeError("not an object")
        record = IndexRecord(
            rid=_get(obj, "rid", str),
            state=_get(obj, "state", str),
            partition=_get(obj, "partition", int),
            created=float(_get(obj, "created", (int, float))),
            ts=float(_get(obj, "ts", (int, float))),
            seq=_get(obj, "seq", int),
            first=_maybe(obj, "first"),
            last=_maybe(obj, "last"),
            views=_views(obj.get("views")),
            options=_options(obj.get("options")),
            summary=_summary(obj.get("summary")),
            cached_from=_cached_from(obj.get("cached_from")),
            conversation=_conversation(obj.get("conversation")),
        )
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise DecodeError(f"not an index record: {exc}") from None
    if record.state not in STATES or not record.rid:
        raise DecodeError(f"not an index record: state {record.state!r}")
    if not _in_range(record):
        raise DecodeError("not an index record: a partition, time, seq or offset out of range")
    return record


def _in_range(r: IndexRecord) -> bool:
    """Values a writer can have written; others would reach Kafka requests (a time seek, a
    partition's offsets) that fail or wait forever in whichever agent or edge reads them."""
    offsets = [o for o in (r.first, r.last) if o is not None]
    return (
        0 <= r.partition < MAX_PARTITION and 0 <= r.created <= MAX_MS and 0 <= r.ts <= MAX_MS
        and 0 <= r.seq < MAX_INT64 and all(0 <= o < MAX_INT64 for o in offsets)
    )  # fmt: skip


def _get(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"field {name!r} missing or not {kind}")
    return value


def _maybe(obj: dict[str, Any], name: str) -> int | None:
    return None if obj.get(name) is None else int(_get(obj, name, int))


def _views(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("field 'views' is not a list of names")
    return tuple(value)


def _options(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise TypeError("field 'options' is not an object")
    return value


def _summary(value: Any) -> dict[str, Any] | None:
    # Only its shape here: app/summary.py reads its fields leniently, for the readers that care.
    if value is not None and not isinstance(value, dict):
        raise TypeError("field 'summary' is not an object")
    return value


def _cached_from(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("field 'cached_from' is not a response id")
    return value or None


def _conversation(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("id"), str)
        or not isinstance(value.get("turn"), int)
    ):
        raise TypeError("field 'conversation' is not {id, turn, prompt}")
    return value
