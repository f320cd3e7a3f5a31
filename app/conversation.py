"""Conversations: what a request names (`conversation_id` or `previous_response_id`), the turns
of a conversation as context for the next one, and what a turn records about itself. Pure: the
edge reads storage and Kafka (app/edge/continuation.py) and hands the turns in.

A turn's request stores every message its calls were sent, the prepended context included, so
`request["conversation"]["context"]` says which slice was prepended: an earlier turn contributes
only its own user messages and its answer, never the context it was given.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.contract.requests import Call
from app.errors import BadRequest

ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_RESPONSE_ID = 256
# The prompt an `open` index record carries (the conversation stream's `response` event before
# the turn is stored): the index is a few small records per response, so it is cut here.
PROMPT_CHARS = 4096
LEADING = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Named:
    """What a request body names: a conversation to continue, or a response to continue from."""

    conversation_id: str | None = None
    previous_response_id: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier turn, as context: its user messages and its answer text ("" if none)."""

    rid: str
    turn: int
    user: tuple[Mapping[str, Any], ...]
    answer: str

    @property
    def chars(self) -> int:
        return len(self.answer) + sum(len(text_of(m.get("content"))) for m in self.user)


@dataclass(frozen=True, slots=True)
class Context:
    messages: tuple[Mapping[str, Any], ...]
    turns: int  # turns kept
    dropped: int  # older turns left out by the caps
    chars: int


def named(body: Mapping[str, Any]) -> Named | None:
    """The conversation fields of a request body, validated; None when it names none."""
    cid, prev = body.get("conversation_id"), body.get("previous_response_id")
    if cid is None and prev is None:
        return None
    if cid is not None and prev is not None:
        raise BadRequest("give conversation_id or previous_response_id, not both")
    if cid is not None:
        if not isinstance(cid, str) or not ID.fullmatch(cid):
            raise BadRequest("conversation_id must be 1-128 of A-Z a-z 0-9 _ . : -")
        return Named(conversation_id=cid)
    if not isinstance(prev, str) or not 0 < len(prev) <= MAX_RESPONSE_ID:
        raise BadRequest(f"previous_response_id must be a response id (1-{MAX_RESPONSE_ID} chars)")
    return Named(previous_response_id=prev)


def turn_of(rid: str, turn: int, request: Mapping[str, Any] | None,
            sources: Mapping[str, str]) -> Turn:  # fmt: skip
    """A stored response as a turn: its first call's own user messages and that call's text."""
    calls = (request or {}).get("calls") or [{}]
    first = calls[0] if isinstance(calls[0], dict) else {}
    messages = list(first.get("messages") or [])
    at, count = _prepended((request or {}).get("conversation"))
    own = messages[:at] + messages[at + count :]
    user = tuple(m for m in own if isinstance(m, dict) and m.get("role") == "user")
    source = first.get("source", "answer")
    return Turn(rid, turn, user, sources.get(source, "") if isinstance(source, str) else "")


def context(turns: Sequence[Turn], max_turns: int, max_chars: int) -> Context:
    """The messages of the most recent turns that fit both caps (whole turns, oldest dropped
    first), oldest first: each turn's user messages, then its answer as an assistant message."""
    kept: list[Turn] = []
    chars = 0
    for turn in reversed(turns):
        if len(kept) >= max_turns or chars + turn.chars > max_chars:
            break
        kept.append(turn)
        chars += turn.chars
    kept.reverse()
    messages: list[Mapping[str, Any]] = []
    for turn in kept:
        messages.extend(turn.user)
        if turn.answer:  # a turn that failed before any text leaves only its question
            messages.append({"role": "assistant", "content": turn.answer})
    return Context(tuple(messages), len(kept), len(turns) - len(kept), chars)


def prepend(calls: Sequence[Call], ctx: Context) -> tuple[list[Call], int]:
    """Every call with the context inserted after its leading system/developer messages (they
    stay first, where the models expect them); and where it went, for `turn_of` later."""
    at = _leading(calls[0].messages)
    out = []
    for call in calls:
        where = _leading(call.messages)
        messages = call.messages[:where] + ctx.messages + call.messages[where:]
        out.append(dataclasses.replace(call, messages=messages))
    return out, at


def record(cid: str, turn: int, ctx: Context, at: int) -> dict[str, Any]:
    """What the request record says of its conversation (the persist agent stores it)."""
    return {
        "id": cid,
        "turn": turn,
        "context": {"at": at, "messages": len(ctx.messages), "turns": ctx.turns,
                    "dropped_turns": ctx.dropped, "chars": ctx.chars},
    }  # fmt: skip


def prompt(call: Call) -> str:
    return call.prompt[:PROMPT_CHARS]


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _leading(messages: Sequence[Mapping[str, Any]]) -> int:
    n = 0
    while n < len(messages) and messages[n].get("role") in LEADING:
        n += 1
    return n


def _prepended(conv: Any) -> tuple[int, int]:
    ctx = conv.get("context") if isinstance(conv, dict) else None
    if not isinstance(ctx, dict):
        return 0, 0
    at, count = ctx.get("at"), ctx.get("messages")
    if not isinstance(at, int) or not isinstance(count, int) or at < 0 or count < 0:
        return 0, 0
    return at, count
