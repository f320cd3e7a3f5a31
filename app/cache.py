"""The response cache's contract: the `cache` option of a POST (validated here, for the edge) and
the `cache_hit` a request record carries to the worker (which response to replay, at what pace).

A hit is decided once, at the edge's POST, so the `open` index record and the 201 answer can say
`cached` before anything is generated; the worker only replays what the edge chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import BadRequest

FULL = "full"  # as fast as the writer sends (deltas coalesce)
RECORDED = "recorded"  # the stored events' ts gaps, each capped
PACES = (FULL, RECORDED)


@dataclass(frozen=True, slots=True)
class CacheAsk:
    """What a request asked of the cache (`"cache": true` or `{"pace": ...}`)."""

    pace: str = FULL


@dataclass(frozen=True, slots=True)
class CacheHit:
    """An earlier response whose stored events answer this request."""

    rid: str
    pace: str = FULL

    def to_dict(self) -> dict[str, str]:
        return {"rid": self.rid, "pace": self.pace}


def parse(body: Mapping[str, Any]) -> CacheAsk | None:
    """The request's `cache` option: None when absent or false; BadRequest when malformed."""
    value = body.get("cache")
    if value is None or value is False:
        return None
    if value is True:
        return CacheAsk()
    if isinstance(value, dict):
        unknown = set(value) - {"pace"}
        if unknown:
            raise BadRequest(f"cache: unknown option {sorted(unknown)[0][:64]!r}; options are pace")
        pace = value.get("pace", FULL)
        if pace not in PACES:
            raise BadRequest(f"cache.pace must be one of {', '.join(PACES)}")
        return CacheAsk(pace)
    raise BadRequest('cache must be true, false or {"pace": "full" | "recorded"}')


def hit_of(value: Mapping[str, Any] | None) -> CacheHit | None:
    """A request record's `cache_hit` (the worker's side), None if it has none or a malformed
    one (a record from elsewhere: it is then generated as usual)."""
    if not isinstance(value, Mapping):
        return None
    rid, pace = value.get("rid"), value.get("pace", FULL)
    if not isinstance(rid, str) or not rid or pace not in PACES:
        return None
    return CacheHit(rid, pace)
