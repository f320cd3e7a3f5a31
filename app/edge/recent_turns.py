"""The conversations' recent turns this edge saw open: from the `open` index records it already
consumes (fanout.py), so every edge learns a new turn however it was posted, and the edge's
conversation streams (conversations.py) hear of it at once. Older turns come from storage.

Bounded with a way out: at most `size` conversations, and a conversation none of whose turns
opened for `idle_s` is forgotten (its turns are stored by then). Watchers are kept apart from
the turns, per open stream, so evicting a conversation never silences a stream that follows it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.contract.index import IndexRecord

# Turns kept per conversation: older ones are stored long before a conversation grows this long.
TURNS_KEPT = 256


@dataclass(frozen=True, slots=True)
class Opened:
    """A turn as its `open` index record told it."""

    rid: str
    conversation_id: str
    turn: int
    created: float  # epoch ms
    prompt: str  # the new user message, cut to conversation.PROMPT_CHARS


class RecentTurns:
    def __init__(self, size: int, idle_s: float) -> None:
        self.size = size
        self.idle_s = idle_s
        # cid -> rid -> turn, least recently opened first; and when each last opened a turn.
        self._turns: OrderedDict[str, dict[str, Opened]] = OrderedDict()
        self._touched: dict[str, float] = {}
        self._by_rid: dict[str, str] = {}
        self._watchers: dict[str, set[asyncio.Queue[Opened]]] = {}

    def __len__(self) -> int:
        return len(self._turns)

    def opened(self, record: IndexRecord, now: float | None = None) -> None:
        """An `open` index record of a conversation's turn."""
        conv = record.conversation
        if conv is None:
            return
        now = time.monotonic() if now is None else now
        turn = Opened(
            record.rid, conv["id"], conv["turn"], record.created, str(conv.get("prompt", ""))
        )
        turns = self._turns.setdefault(turn.conversation_id, {})
        if turn.rid in turns:
            return  # the same record read again
        turns[turn.rid] = turn
        self._by_rid[turn.rid] = turn.conversation_id
        while len(turns) > TURNS_KEPT:
            self._by_rid.pop(next(iter(turns)), None)
            del turns[next(iter(turns))]
        self._turns.move_to_end(turn.conversation_id)
        self._touched[turn.conversation_id] = now
        self.evict(now)
        for queue in self._watchers.get(turn.conversation_id, ()):
            queue.put_nowait(turn)  # unbounded, but turns are a few a minute at most

    def evict(self, now: float) -> None:
        """Forget the least recently active conversations past the size or idle for idle_s."""
        while self._turns:
            cid = next(iter(self._turns))
            if len(self._turns) <= self.size and self._touched[cid] > now - self.idle_s:
                return
            for rid in self._turns.pop(cid):
                self._by_rid.pop(rid, None)
            del self._touched[cid]

    def of(self, cid: str) -> list[Opened]:
        return list(self._turns.get(cid, {}).values())

    def find(self, rid: str) -> Opened | None:
        cid = self._by_rid.get(rid)
        return None if cid is None else self._turns[cid].get(rid)

    def watch(self, cid: str) -> asyncio.Queue[Opened]:
        """A queue of the conversation's turns opened from now on; `unwatch` it when done."""
        queue: asyncio.Queue[Opened] = asyncio.Queue()
        self._watchers.setdefault(cid, set()).add(queue)
        return queue

    def unwatch(self, cid: str, queue: asyncio.Queue[Opened]) -> None:
        watchers = self._watchers.get(cid)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[cid]


async def arrivals(queue: asyncio.Queue[Opened]) -> AsyncIterator[list[Opened]]:
    """A watch queue as batches: everything that arrived at each wake-up."""
    while True:
        batch = [await queue.get()]
        while not queue.empty():
            batch.append(queue.get_nowait())
        yield batch
