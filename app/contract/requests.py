"""The <prefix>.requests topic's message, `Request`: what a response asks the worker to generate
(a `Call` per model call, parsed from the HTTP body by app/request/calls.py), and what the audit
log and the response cache need to know of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.errors import DecodeError


@dataclass(frozen=True, slots=True)
class Call:
    """One model call of a response: its source label, model name, chat messages, parameters."""

    source: str
    model: str
    messages: tuple[Mapping[str, Any], ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The last user message's text (what the demo model answers)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text(message.get("content"))
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "params": dict(self.params),
        }


@dataclass(frozen=True, slots=True)
class Request:
    """One generation request, keyed by its response id. `calls` are as the edge wrote them
    (`Call.to_dict()`): the worker checks them with parse_calls, and a bad one ends that
    response with an error instead of dead-lettering the record."""

    rid: str
    calls: list[Any]
    client: str | None = None  # for the audit log (app/audit.py)
    who: str | None = None
    key_id: str | None = None
    views: tuple[str, ...] = ()  # app/views.py
    conversation: dict[str, Any] | None = None  # a conversation's turn (app/conversation.py)
    cache_hit: dict[str, Any] | None = None  # the stored answer to replay (app/cache.py)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON holds it: optional fields only when set."""
        out: dict[str, Any] = {"rid": self.rid, "calls": self.calls, "client": self.client,
                               "who": self.who, "key_id": self.key_id}  # fmt: skip
        if self.conversation is not None:
            out["conversation"] = self.conversation
        if self.views:
            out["views"] = list(self.views)
        if self.cache_hit is not None:
            out["cache_hit"] = self.cache_hit
        return out

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())


def decode(value: bytes | None) -> Request:
    """A generation request: an object with a non-empty string `rid`, DecodeError otherwise.
    The rest is read leniently: what a field of the wrong type would have said is left out
    (calls that are not a list read as none, which parse_calls refuses for that response)."""
    try:
        obj: Any = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("rid"), str):
        raise DecodeError("a request is an object with a string `rid`")
    if not obj["rid"]:
        raise DecodeError("a request's `rid` is empty")
    calls, views = obj.get("calls"), obj.get("views")
    if not isinstance(views, list) or not all(isinstance(v, str) for v in views):
        views = []
    return Request(
        rid=obj["rid"],
        calls=calls if isinstance(calls, list) else [],
        client=_str(obj.get("client")),
        who=_str(obj.get("who")),
        key_id=_str(obj.get("key_id")),
        views=tuple(views),
        conversation=_dict(obj.get("conversation")),
        cache_hit=_dict(obj.get("cache_hit")),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""
