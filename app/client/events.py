"""What the client hands its caller: typed events of a stream, and the edge's JSON answers.

The raw stream's events and every view's share one shape (docs/api-events.md, docs/views.md);
fields a type does not carry are None, and `data` is the event's JSON object as sent, so a
field added to the protocol later is readable before this class knows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.client.errors import ProtocolError

TERMINAL_TYPES = frozenset({"done", "error", "cancelled"})
TEXT_TYPES = frozenset({"delta", "sentence"})


@dataclass(frozen=True, slots=True)
class Event:
    rid: str
    seq: int  # the stream's own: a view numbers its events from 1 as well
    type: str
    source: str
    text: str  # a delta's or a sentence's text; "" for every other type
    ts: float
    data: dict[str, Any] = field(repr=False, hash=False, compare=False)
    raw_seq: int | None = None  # views: the last raw seq this event covers
    path: str | None = None  # json, json.invalid
    value: Any = field(default=None, hash=False)  # json
    ref: Any = field(default=None, hash=False)  # citation
    call_id: str | None = None  # tool_call
    name: str | None = None  # tool_call
    arguments: Any = field(default=None, hash=False)  # tool_call (a str if it was not JSON)
    code: str | None = None  # error
    message: str | None = None  # error, json.invalid
    retriable: bool | None = None
    status: int | None = None  # error: the upstream's HTTP status, if it gave one

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    @classmethod
    def from_data(cls, data: Any) -> Event:
        """Checks only what resuming relies on (rid, seq, type); the rest is taken as sent."""
        if not isinstance(data, dict):
            raise ProtocolError(f"event data is not a JSON object: {str(data)[:100]}")
        rid, seq, kind = data.get("rid"), data.get("seq"), data.get("type")
        if not isinstance(rid, str) or not isinstance(kind, str):
            raise ProtocolError(f"event without rid or type: {str(data)[:200]}")
        if type(seq) is not int or seq < 1:
            raise ProtocolError(f"event without a positive integer seq: {str(data)[:200]}")
        get = data.get
        text, ts = get("text"), get("ts")
        return cls(
            rid=rid, seq=seq, type=kind, source=str(get("source", "answer")),
            text=text if isinstance(text, str) else "",
            ts=float(ts) if isinstance(ts, int | float) else 0.0, data=data,
            raw_seq=get("raw_seq"), path=get("path"), value=get("value"), ref=get("ref"),
            call_id=get("call_id"), name=get("name"), arguments=get("arguments"),
            code=get("code"), message=get("message"), retriable=get("retriable"),
            status=get("status"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to POST /v1/responses. `read_token` is None while the edge runs without auth."""

    id: str
    events_url: str
    status: str
    read_token: str | None
    data: dict[str, Any] = field(repr=False, hash=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Created:
        rid = data.get("id")
        if not isinstance(rid, str) or not rid:
            raise ProtocolError(f"create answer without an id: {str(data)[:200]}")
        url = data.get("events_url") or f"/v1/responses/{rid}/events"
        token = data.get("read_token")
        return cls(rid, str(url), str(data.get("status", "")), token or None, data)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """GET /v1/responses/{id}: its status, last seq, and the text of each source so far."""

    id: str
    status: str
    last_seq: int
    sources: dict[str, str] = field(hash=False)
    data: dict[str, Any] = field(repr=False, hash=False, compare=False)

    @property
    def text(self) -> str:
        """Every source's text, in the order the edge listed them (one source: its text)."""
        return "".join(self.sources.values())

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Snapshot:
        sources = data.get("sources") or {}
        return cls(
            str(data.get("id", "")), str(data.get("status", "")), int(data.get("last_seq", 0)),
            {str(k): str(v) for k, v in sources.items()}, data,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cancelled:
    """POST /v1/responses/{id}/cancel: `cancelled` False when it had already ended (`status`
    says how); True when the cancel was published (the stream's terminal event says the rest)."""

    id: str
    status: str
    cancelled: bool
    data: dict[str, Any] = field(repr=False, hash=False, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Cancelled:
        return cls(
            str(data.get("id", "")), str(data.get("status", "")), bool(data.get("cancelled")), data
        )
