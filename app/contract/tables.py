"""The values of the worker's Faust tables. Their changelog topics (`<app id>-<table>-changelog`)
are the agents' checkpoints: a worker taking over a partition rebuilds its state from them.

- `stats`: per (responses partition, model, minute), the aggregate so far and the last offset
  of the responses index counted in it (records read again after a crash count once).
- `views`: per response that asked for views, what the views agent needs to follow it again
  after a takeover (where its events start, which views, their options).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from app.contract.stats import Aggregate
from app.errors import DecodeError


@dataclass(frozen=True, slots=True)
class Counted:
    """A `stats` table value."""

    offset: int  # the last responses-index offset counted; -1: none yet
    aggregate: Aggregate

    def encode(self) -> bytes:
        return orjson.dumps({"offset": self.offset, "aggregate": self.aggregate.to_wire()})


def decode_counted(raw: bytes | None) -> Counted:
    """None (no value yet) is an empty aggregate; DecodeError for anything not a value."""
    if raw is None:
        return Counted(-1, Aggregate())
    try:
        obj: Any = orjson.loads(raw)
        if not isinstance(obj, dict) or type(obj.get("offset")) is not int:
            raise ValueError("not {offset, aggregate}")
        return Counted(obj["offset"], Aggregate.from_wire(obj.get("aggregate")))
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise DecodeError(f"not a stats table value: {exc}") from None


@dataclass(frozen=True, slots=True)
class Followed:
    """A `views` table value: a response whose views a worker makes."""

    rid: str
    partition: int  # of <prefix>.events
    created: float  # epoch ms: where a read of its events may start (less the clock skew)
    first: int | None  # the offset of its first event, if the index knew it
    views: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rid": self.rid,
            "partition": self.partition,
            "created": self.created,
            "first": self.first,
            "views": list(self.views),
            "options": self.options,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())


def decode_followed(raw: bytes | None) -> Followed:
    try:
        obj: Any = orjson.loads(raw or b"")
        views, first = obj["views"], obj.get("first")
        if not all(isinstance(v, str) for v in views) or not (first is None or type(first) is int):
            raise TypeError("bad views or first")
        return Followed(str(obj["rid"]), int(obj["partition"]), float(obj["created"]), first,
                        tuple(views), dict(obj.get("options") or {}))  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        raise DecodeError(f"not a views table value: {exc}") from None
