"""The stored form of one complete response (`StoredResponse`), what the store takes and gives."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

RAW = ""  # the stream name of a response's own events; a view's stream is the view's name


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    status: str  # how it ended: done, error, cancelled
    partition: int
    created_ms: float
    first_token_ms: float | None  # the first delta's ts
    finished_ms: float | None  # the terminal event's ts
    models: Mapping[str, str]  # source -> model
    request: Mapping[str, Any] | None  # <prefix>.requests' record; None for an SDK response
    sources: Mapping[str, str]  # source -> its text
    usage: Mapping[str, Any] | None  # source -> usage, as the upstream reported it
    error: Mapping[str, Any] | None  # the terminal error event's code, message, retriable, status
    views: tuple[str, ...]
    last_seq: int
    complete: bool = True  # False: Kafka had lost some of its events when it was stored
    missing: str | None = None  # what was missing, for the operator
    stored_ms: float = 0.0
    # stream -> the exact Kafka values of its events, in seq order. Empty when read by
    # Store.get, which leaves the logs in the database (Store.log reads one).
    logs: Mapping[str, Sequence[bytes]] = field(default_factory=dict)

    @property
    def request_hash(self) -> str | None:
        return request_hash(self.request) if self.request is not None else None

    @property
    def cached_from(self) -> str | None:
        """The response whose stored events this one replayed (the response cache), or None."""
        hit = self.request.get("cache_hit") if self.request is not None else None
        rid = hit.get("rid") if isinstance(hit, Mapping) else None
        return rid if isinstance(rid, str) else None

    @property
    def conversation_id(self) -> str | None:
        """The conversation this response is a turn of (app/conversation.py), or None."""
        conv = self.request.get("conversation") if self.request is not None else None
        cid = conv.get("id") if isinstance(conv, Mapping) else None
        return cid if isinstance(cid, str) else None

    @property
    def turn(self) -> int | None:
        conv = self.request.get("conversation") if self.request is not None else None
        turn = conv.get("turn") if isinstance(conv, Mapping) else None
        return turn if isinstance(turn, int) and not isinstance(turn, bool) else None


def request_hash(request: Mapping[str, Any]) -> str:
    """sha256 of a request's calls (models, messages or input, params) as canonical JSON: equal
    for identical requests whatever their response id or key order."""
    calls = request.get("calls", [])
    return hashlib.sha256(orjson.dumps(calls, option=orjson.OPT_SORT_KEYS)).hexdigest()
