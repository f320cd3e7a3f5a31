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
TOOL_CALL = "tool_call"  # a model's complete tool call: `call_id`, `name`, `arguments`
CITATION = "citation"  # `ref`: the source a passage cites (an upstream's, or a `citations` view's)
SENTENCE = "sentence"  # views only (app/views.py): one whole sentence of a source's text
JSON = "json"  # views only: `path` (a JSON Pointer) and `value`, one complete field or item
JSON_INVALID = "json.invalid"  # views only: `path` and `message`, a value the schema refused

TERMINAL_TYPES = frozenset({DONE, ERROR, CANCELLED})
CLIENT_TYPES = frozenset({DELTA, SOURCE_DONE, TOOL_CALL, CITATION}) | TERMINAL_TYPES
VIEW_TYPES = frozenset({SENTENCE, JSON, JSON_INVALID})
ALL_TYPES = CLIENT_TYPES | VIEW_TYPES
TEXT_TYPES = frozenset({DELTA, SENTENCE})

_OPTIONAL = ("text", "retriable", "code", "message", "status", "raw_seq")
# Fields of the structured types (never on a delta: decoding a delta never looks for them).
_STRUCTURED = ("path", "ref", "call_id", "name", "arguments")
# What a `source.done` says of its call (app/usage.py; never on a delta either).
_ACCOUNTING = ("model", "usage", "first_token_ms", "duration_ms")


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made decoding
# an event 2.6 µs instead of 1.7; nothing mutates or hashes events.
@dataclass(slots=True)
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
    raw_seq: int | None = None  # in a view: the last seq of the raw stream this event covers
    path: str | None = None  # json, json.invalid: a JSON Pointer into the structured answer
    value: Any = None  # json: the complete value at `path` (null is a value: always written)
    ref: Any = None  # citation: what is cited (an object)
    call_id: str | None = None  # tool_call: the upstream's id of the call
    name: str | None = None  # tool_call: the tool's name
    arguments: Any = None  # tool_call: the arguments, parsed JSON
    model: str | None = None  # source.done: the call's model name
    usage: dict[str, Any] | None = None  # source.done: {input_tokens, output_tokens, raw?}
    first_token_ms: float | None = None  # source.done: first text after the call started
    duration_ms: float | None = None  # source.done: the whole call

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
        if self.type != DELTA:
            for name in _STRUCTURED:
                value = getattr(self, name)
                if value is not None:
                    out[name] = value
            if self.type == JSON:
                out["value"] = self.value
            elif self.type == SOURCE_DONE:
                for name in _ACCOUNTING:
                    value = getattr(self, name)
                    if value is not None:
                        out[name] = value
        return out


def now_ms() -> float:
    return time.time() * 1000.0


def encode(event: Event) -> bytes:
    return orjson.dumps(event.to_dict())


def decode(raw: bytes | None) -> Event:
    """Parse and validate one message value; any defect raises DecodeError.

    The edge decodes every event it consumes, live and in catch-up reads, so types are checked
    with `type() is` (orjson makes exact types), not a helper call per field: with the unfrozen
    class, 4.3 -> 1.7 µs an event."""
    if raw is None:
        raise DecodeError("empty message value")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if type(obj) is not dict:
        raise DecodeError("value is not a JSON object")
    get = obj.get
    rid, kind, source, seq, ts = get("rid"), get("type"), get("source"), get("seq"), get("ts")
    if type(rid) is not str or type(kind) is not str or type(source) is not str:
        raise DecodeError("rid, type and source must be strings")
    if type(seq) is not int or type(ts) is not float and type(ts) is not int:
        raise DecodeError("seq must be an integer and ts a number")
    text, retriable, code, message, status, raw_seq = (
        get("text"), get("retriable"), get("code"), get("message"), get("status"), get("raw_seq"),
    )  # fmt: skip
    if (
        text is not None and type(text) is not str
        or retriable is not None and type(retriable) is not bool
        or code is not None and type(code) is not str
        or message is not None and type(message) is not str
        or status is not None and type(status) is not int
        or raw_seq is not None and type(raw_seq) is not int
    ):  # fmt: skip
        raise DecodeError("an optional field has the wrong type")
    if kind not in ALL_TYPES:
        raise DecodeError(f"unknown event type {kind!r}")
    if not rid:
        raise DecodeError("empty rid")
    if seq < 1:
        raise DecodeError("seq must be 1 or more")
    if kind in TEXT_TYPES and text is None:
        raise DecodeError(f"{kind} without text")
    ev = Event(rid, kind, source, seq, float(ts), text, retriable, code, message, status, raw_seq)
    if kind != DELTA:
        if kind in STRUCTURED_TYPES:
            _structured(ev, obj)
        elif kind == SOURCE_DONE:
            _accounting(ev, obj)
    return ev


STRUCTURED_TYPES = frozenset({TOOL_CALL, CITATION, JSON, JSON_INVALID})


def _structured(event: Event, obj: dict[str, Any]) -> None:
    """The fields of a tool_call, citation, json or json.invalid event, checked."""
    path, call_id, name = obj.get("path"), obj.get("call_id"), obj.get("name")
    if (
        path is not None and type(path) is not str
        or call_id is not None and type(call_id) is not str
        or name is not None and type(name) is not str
    ):  # fmt: skip
        raise DecodeError("path, call_id and name must be strings")
    kind = event.type
    if kind in (JSON, JSON_INVALID) and path is None:
        raise DecodeError(f"{kind} without path")
    if kind == JSON and "value" not in obj:
        raise DecodeError("json without value")
    if kind == TOOL_CALL and (call_id is None or name is None):
        raise DecodeError("tool_call without call_id or name")
    if kind == CITATION and type(obj.get("ref")) is not dict:
        raise DecodeError("citation without a ref object")
    event.path, event.call_id, event.name = path, call_id, name
    event.value, event.ref, event.arguments = obj.get("value"), obj.get("ref"), obj.get("arguments")


def _accounting(event: Event, obj: dict[str, Any]) -> None:
    """A source.done's model, usage and timings, checked (each is optional: a producer-SDK
    writer may know none of them)."""
    model, usage = obj.get("model"), obj.get("usage")
    first, duration = obj.get("first_token_ms"), obj.get("duration_ms")
    if (
        model is not None and type(model) is not str
        or usage is not None and type(usage) is not dict
        or first is not None and type(first) is not float and type(first) is not int
        or duration is not None and type(duration) is not float and type(duration) is not int
    ):  # fmt: skip
        raise DecodeError("model, usage or a timing of source.done has the wrong type")
    event.model, event.usage = model, usage
    event.first_token_ms = None if first is None else float(first)
    event.duration_ms = None if duration is None else float(duration)
