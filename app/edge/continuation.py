"""A POST that continues a conversation: its earlier turns read from storage (never from Kafka),
their context prepended to the new request's calls, its turn number given.

The turns this edge saw open but storage does not hold yet (still streaming, or the persist
agent has not caught up) are waited for, up to `conversation_wait_s`; past that the POST is
refused with 409, because a context without them would silently miss an answer. Turns opened
before this edge started and not stored yet are not known here (storage is the record).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app import conversation
from app.contract.requests import Call
from app.conversation import Context, Named
from app.edge.recent_turns import RecentTurns
from app.edge.state import EdgeState
from app.errors import TurnInProgress, Unavailable, UnknownResponse
from app.storage.records import StoredResponse
from app.storage.store import Store

POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class Continued:
    conversation_id: str
    turn: int
    context: Context
    record: dict[str, Any]  # the request record's `conversation` (the persist agent stores it)
    index: dict[str, Any]  # the `open` index record's: every edge's conversation streams read it

    def answer(self) -> dict[str, Any]:
        """What the POST's answer says of it (and what the caps dropped)."""
        ctx = self.context
        return {"conversation_id": self.conversation_id, "turn": self.turn,
                "context": {"turns": ctx.turns, "dropped_turns": ctx.dropped,
                            "messages": len(ctx.messages), "chars": ctx.chars}}  # fmt: skip


async def of_request(
    edge: EdgeState, body: Mapping[str, Any], calls: list[Call]
) -> tuple[list[Call], Continued | None]:
    """The request's calls with its conversation's stored turns prepended, and what it
    continues; the calls as they were when the body names no conversation."""
    named = conversation.named(body)
    if named is None:
        return calls, None
    cid, turn, ctx = await prepare(edge, named)
    out, at = conversation.prepend(calls, ctx)
    record = conversation.record(cid, turn, ctx, at)
    index = {"id": cid, "turn": turn, "prompt": conversation.prompt(calls[0])}
    return out, Continued(cid, turn, ctx, record, index)


async def prepare(edge: EdgeState, named: Named) -> tuple[str, int, Context]:
    """(conversation id, the new turn's number, its context)."""
    store = edge.store
    if store is None:
        raise Unavailable("conversations need storage, and this edge has none")
    recent = edge.fanout.conversations
    wait_s = edge.settings.conversation_wait_s
    try:
        upto: int | None = None  # previous_response_id: the context ends with that turn
        if named.previous_response_id is not None:
            prev = await _previous(edge, store, named.previous_response_id)
            cid = prev.conversation_id or prev.id  # a plain response starts a conversation
            upto = prev.turn or 1
        else:
            assert named.conversation_id is not None
            cid = named.conversation_id
        await _settled(store, recent, cid, upto, wait_s)
        s = edge.settings
        # The context keeps at most conversation_max_turns turns: no older one is read.
        stored = await store.conversation(cid, latest=s.conversation_max_turns, upto=upto)
        count, last = await store.turn_numbers(cid, upto)
    except SQLAlchemyError as exc:
        raise Unavailable(f"storage is not reachable: {exc.__class__.__name__}") from None
    numbers = [last] + [o.turn for o in recent.of(cid)]
    turns = [conversation.turn_of(r.id, r.turn or 1, r.request, r.sources) for r in stored]
    ctx = conversation.context(turns, s.conversation_max_turns, s.conversation_max_chars)
    # Turns older than those read were left out by the turn cap, as context() would have.
    ctx = dataclasses.replace(ctx, dropped=ctx.dropped + max(0, count - len(stored)))
    return cid, max(numbers) + 1, ctx


async def _previous(edge: EdgeState, store: Store, rid: str) -> StoredResponse:
    """The stored previous response: waited for if it is known but not stored yet (409 past
    the wait), 404 if no one knows it."""
    found = await store.get(rid)
    if found is not None:
        return found
    known = edge.fanout.conversations.find(rid) is not None or rid in edge.fanout.responses
    if not known and await edge.locator.find(rid, 0) is None:
        raise UnknownResponse(f"no response with id {rid[:200]!r} (previous_response_id)")
    deadline = time.monotonic() + edge.settings.conversation_wait_s
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        found = await store.get(rid)
        if found is not None:
            return found
    raise TurnInProgress(
        f"response {rid[:200]!r} is not stored yet (still streaming, or just ended): "
        "retry once it has ended"
    )


async def _settled(
    store: Store, recent: RecentTurns, cid: str, upto: int | None, wait_s: float
) -> None:
    """Return once every turn of `cid` this edge saw open (up to `upto`) is stored."""
    deadline = time.monotonic() + wait_s
    while True:
        opened = [o.rid for o in recent.of(cid) if upto is None or o.turn <= upto]
        have = await store.stored(opened)
        pending = [rid for rid in opened if rid not in have]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TurnInProgress(
                f"turn {pending[0]!r} of conversation {cid!r} is not stored yet (still "
                f"streaming, or just ended); retry once it has ended"
            )
        await asyncio.sleep(POLL_S)
