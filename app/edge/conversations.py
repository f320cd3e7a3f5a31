"""A conversation's turns: `GET /v1/conversations/{id}` lists them, and
`GET /v1/conversations/{id}/events` follows them as SSE: each response as it starts (a
`response` event: its id, turn, prompt), then its events labelled as the multiplexed stream
labels them (their data carries `rid`), every SSE id the whole position (turn_cursor.py).

Turns come from storage (older ones) and from the `open` index records (recent_turns.py); each
response is read by multiplex's readers and merged by its `Merge`, which a new turn joins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import conversation
from app.edge import access, sse, turn_cursor, withhold
from app.edge.multiplex import Merge, relabel
from app.edge.recent_turns import Opened, arrivals
from app.edge.resume import Body, Reader
from app.edge.state import EdgeState
from app.edge.stream import EventStream
from app.edge.tracked import DATA, SEQ, TERMINAL, TEXT, Frame
from app.edge.turn_cursor import TurnCursor
from app.errors import (
    BadCursor,
    BadRequest,
    TokenRelayError,
    Unavailable,
    UnknownConversation,
    UnknownResponse,
)
from app.storage.records import StoredResponse

ARRIVALS = "\x00turns"  # the Merge key of the new-turn feed: no response id has a NUL


@dataclass(frozen=True, slots=True)
class Known:
    """One turn, stored or only opened."""

    rid: str
    turn: int
    created: float
    prompt: str
    stored: StoredResponse | None = None


async def known_turns(edge: EdgeState, cid: str) -> list[Known]:
    """The conversation's turns in its order: storage's, then those only opened so far."""
    if not conversation.ID.fullmatch(cid):
        raise BadRequest("a conversation id is 1-128 of A-Z a-z 0-9 _ . : -")
    if edge.store is None:
        raise Unavailable("conversations need storage, and this edge has none")
    try:
        stored = await edge.store.conversation(cid)
    except SQLAlchemyError as exc:
        raise Unavailable(f"storage is not reachable: {exc.__class__.__name__}") from None
    out = [Known(r.id, r.turn or 1, r.created_ms, _input(r), r) for r in stored]
    have = {k.rid for k in out}
    out += [_known(o) for o in edge.fanout.conversations.of(cid) if o.rid not in have]
    out.sort(key=lambda k: (k.turn, k.created, k.rid))
    if not out:
        raise UnknownConversation(f"no conversation with id {cid!r}")
    return out


@access.reads_conversation
async def list_turns(request: Request) -> Response:
    edge: EdgeState = request.app.state.edge
    cid = request.path_params["cid"]
    turns = [_listed(edge, k) for k in await known_turns(edge, cid)]
    return JSONResponse({"id": cid, "turns": turns})


@access.reads_conversation
async def stream_turns(request: Request) -> Response | EventStream:
    edge: EdgeState = request.app.state.edge
    cid = request.path_params["cid"]
    cursor = turn_cursor.parse(
        request.headers.get("last-event-id") or request.query_params.get("after")
    )
    recent = edge.fanout.conversations
    watch = recent.watch(cid)  # before storage is read: a turn opening meanwhile is not missed
    try:
        turns = await known_turns(edge, cid)
        if cursor.seen > len(turns) or set(cursor.positions) - {
            t.rid for t in turns[: cursor.seen]
        }:
            raise BadCursor(f"the cursor names turns conversation {cid!r} does not have")
        follow = _Follow(edge, cursor)
        opening = await follow.start(turns)
    except BaseException:
        recent.unwatch(cid, watch)
        raise
    follow.merge.join(ARRIVALS, arrivals(watch))

    async def release() -> None:
        recent.unwatch(cid, watch)
        await follow.close()

    body = Body(follow.stream(opening), release)
    return EventStream(body, edge.streams, edge.settings.edge_send_timeout_s)


class _Follow:
    """One connection's turns: a reader per response in flight, all through one Merge."""

    def __init__(self, edge: EdgeState, cursor: TurnCursor) -> None:
        self.edge = edge
        self.cursor = cursor
        self.reader = Reader(edge.fanout, edge.history, edge.metrics, edge.settings.heartbeat_s)
        self.merge: Merge[Any] = Merge()
        self.feeds: dict[str, Body[list[Frame]]] = {}
        self.known: set[str] = set()

    async def start(self, turns: list[Known]) -> list[bytes]:
        """Readers for the turns in flight at the cursor; the frames of the turns after it.
        Raises (before any byte) what a reader cannot serve: 410, 400 beyond the end."""
        try:
            for t in turns[: self.cursor.seen]:
                self.known.add(t.rid)
                if t.rid in self.cursor.positions:
                    await self._read(t.rid, self.cursor.positions[t.rid])
            return [f for t in turns[self.cursor.seen :] for f in await self._begin(t)]
        except BaseException:
            await self.close()
            raise

    async def _begin(self, t: Known) -> list[bytes]:
        """A turn not seen yet: its `response` event, then its reader from the start."""
        self.known.add(t.rid)
        self.cursor.seen += 1
        tracked = await self.edge.locator.find(
            t.rid, self.edge.settings.edge_unknown_wait_ms / 1000
        )
        if tracked is None:
            raise UnknownResponse(f"turn {t.rid!r} is not found")
        data: dict[str, Any] = {"rid": t.rid, "turn": t.turn, "prompt": t.prompt,
                                "created": t.created}  # fmt: skip
        served = withhold.served(await self.edge.locator.views(tracked), None)
        if served:
            self.cursor.positions[t.rid] = 0
        else:  # its raw events are withheld: the turn says where its moderated view is
            data["moderated_url"] = withhold.moderated_url(t.rid)
        frame = _frame(self.cursor.encode(), b"response", orjson.dumps(data))
        if served:
            await self._read(t.rid, 0)
        return [frame]

    async def _read(self, rid: str, after: int) -> None:
        tracked = await self.edge.locator.find(rid, self.edge.settings.edge_unknown_wait_ms / 1000)
        if tracked is None:
            raise UnknownResponse(f"turn {rid!r} is not found")
        feed = await self.reader.open(tracked, after)
        if feed is None:  # the cursor holds its terminal event
            self.cursor.positions.pop(rid, None)
            return
        self.feeds[rid] = feed
        self.merge.join(rid, feed)

    async def stream(self, opening: list[bytes]) -> AsyncIterator[bytes]:
        for chunk in sse.writes(opening):
            yield chunk
        while True:
            ready = await self.merge.ready(self.edge.settings.heartbeat_s)
            if not ready:
                yield sse.PING
                continue
            out: list[bytes] = []
            for key, batch in ready:
                if key == ARRIVALS:
                    try:
                        for turn in batch or ():
                            if turn.rid not in self.known:
                                out += await self._begin(_known(turn))
                    except TokenRelayError:  # mid-stream: end, the reconnect gets the status
                        for chunk in sse.writes(out):
                            yield chunk
                        return
                elif batch is None:
                    if key in self.cursor.positions:
                        # Its reader ended short of the terminal event (a position it cannot
                        # serve): end, and the reconnect is told that response's status.
                        for chunk in sse.writes(out):
                            yield chunk
                        return
                else:
                    out += self._relabel(key, batch)
            for chunk in sse.writes(out):
                yield chunk

    def _relabel(self, rid: str, batch: list[Frame]) -> list[bytes]:
        out = []
        for frame in batch:
            if frame[TERMINAL]:
                self.cursor.positions.pop(rid, None)  # ended: it leaves the cursor
            else:
                self.cursor.positions[rid] = frame[SEQ]
            out.append(relabel(frame[DATA], self.cursor.encode()))
        return out

    async def close(self) -> None:
        await self.merge.close()
        await asyncio.gather(*(feed.aclose() for feed in self.feeds.values()))
        self.feeds.clear()


def _frame(ids: bytes, event: bytes, data: bytes) -> bytes:
    return b"id: " + ids + b"\nevent: " + event + b"\ndata: " + data + b"\n\n"


def _known(o: Opened) -> Known:
    return Known(o.rid, o.turn, o.created, o.prompt)


def _input(r: StoredResponse) -> str:
    turn = conversation.turn_of(r.id, r.turn or 1, r.request, r.sources)
    return "\n".join(conversation.text_of(m.get("content")) for m in turn.user)


def _listed(edge: EdgeState, k: Known) -> dict[str, Any]:
    out: dict[str, Any] = {"id": k.rid, "turn": k.turn, "created": k.created, "input": k.prompt}
    if k.stored is not None:
        first = ((k.stored.request or {}).get("calls") or [{}])[0]
        out["status"] = k.stored.status
        out["output"] = k.stored.sources.get(first.get("source", "answer"), "")
        return out
    # In flight (or not stored yet): what this edge holds of it, the text if its ring has it all.
    tracked = edge.fanout.responses.get(k.rid)
    entry = edge.fanout.directory.get(k.rid) if tracked is None else None
    out["status"] = tracked.status if tracked is not None else (
        entry.status if entry is not None else "in_progress"
    )  # fmt: skip
    frames = tracked.frames_after(0) if tracked is not None else None
    out["output"] = None if frames is None else "".join(f[TEXT] or "" for f in frames)
    out["events_url"] = f"/v1/responses/{k.rid}/events"
    return out
