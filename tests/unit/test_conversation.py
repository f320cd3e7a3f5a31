"""Conversations, pure parts: the request's fields validated, a stored turn read back as its own
messages (never the context it was given), the context within its caps, where it is inserted;
the conversation stream's cursor (turn_cursor.py) and the edge's bounded map of recent turns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import conversation
from app.contract.index import IndexRecord
from app.contract.requests import Call
from app.conversation import Turn
from app.edge import turn_cursor
from app.edge.recent_turns import RecentTurns
from app.errors import BadCursor, BadRequest


@pytest.mark.parametrize("cid", ["c", "a" * 128, "user:42/x"[:6], "A-b_c.d:e"])
def test_conversation_ids_accepted(cid: str) -> None:
    assert conversation.named({"conversation_id": cid}) == conversation.Named(cid)


@pytest.mark.parametrize(
    "body",
    [
        {"conversation_id": ""},
        {"conversation_id": "a" * 129},
        {"conversation_id": "a b"},
        {"conversation_id": "é"},
        {"conversation_id": 3},
        {"conversation_id": "a", "previous_response_id": "resp_x"},
        {"previous_response_id": ""},
        {"previous_response_id": ["x"]},
    ],
)
def test_bad_conversation_fields_are_400(body: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        conversation.named(body)


def test_no_conversation_is_none() -> None:
    assert conversation.named({"model": "demo", "input": "hi"}) is None


def turn(n: int, q: str, a: str) -> Turn:
    return Turn(f"r{n}", n, ({"role": "user", "content": q},), a)


def test_context_is_each_turns_question_then_answer_in_order() -> None:
    ctx = conversation.context([turn(1, "q1", "a1"), turn(2, "q2", "")], 10, 1000)
    assert ctx.messages == (
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},  # it failed before any text: its question only
    )
    assert (ctx.turns, ctx.dropped, ctx.chars) == (2, 0, 6)


def test_caps_drop_the_oldest_whole_turns() -> None:
    turns = [turn(i, f"q{i}", "x" * 10) for i in range(1, 6)]
    by_turns = conversation.context(turns, 2, 10_000)
    assert (by_turns.turns, by_turns.dropped) == (2, 3)
    assert by_turns.messages[0]["content"] == "q4"
    by_chars = conversation.context(turns, 50, 30)  # 12 chars a turn
    assert (by_chars.turns, by_chars.dropped, by_chars.chars) == (2, 3, 24)


def test_prepend_keeps_system_messages_first_and_turn_of_reads_only_the_own_messages() -> None:
    ctx = conversation.context([turn(1, "q1", "a1")], 10, 1000)
    call = Call("answer", "demo", ({"role": "system", "content": "be brief"},
                                   {"role": "user", "content": "q2"}))  # fmt: skip
    [out], at = conversation.prepend([call], ctx)
    assert [m["content"] for m in out.messages] == ["be brief", "q1", "a1", "q2"]
    request = {"calls": [out.to_dict()], "conversation": conversation.record("c", 2, ctx, at)}
    got = conversation.turn_of("r2", 2, request, {"answer": "a2"})
    assert got.user == ({"role": "user", "content": "q2"},)
    assert got.answer == "a2"


def test_a_plain_stored_response_is_a_turn_of_its_user_messages() -> None:
    request = {"calls": [{"source": "answer", "messages": [{"role": "user", "content": "hi"}]}]}
    assert conversation.turn_of("r", 1, request, {"answer": "yo"}).user[0]["content"] == "hi"
    assert conversation.turn_of("r", 1, None, {}).user == ()


rids = st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True)


@given(st.integers(0, 10**6), st.dictionaries(rids, st.integers(0, 10**9), max_size=5))
def test_cursor_round_trips(seen: int, positions: dict[str, int]) -> None:
    seen = max(seen, len(positions))
    cursor = turn_cursor.TurnCursor(seen, positions)
    assert turn_cursor.parse(cursor.encode().decode()) == cursor


@given(st.text(max_size=40))
def test_cursor_parse_never_fails_otherwise_than_bad_cursor(raw: str) -> None:
    try:
        cursor = turn_cursor.parse(raw)
    except BadCursor:
        return
    assert len(cursor.positions) <= cursor.seen


@pytest.mark.parametrize("raw", ["x", "-1", "1;a:1,b:2", "2;a:1,a:2", "2;a:x", "1;,", "1e3"])
def test_malformed_cursors_are_400(raw: str) -> None:
    with pytest.raises(BadCursor):
        turn_cursor.parse(raw)


@pytest.mark.parametrize("raw", [None, "", "0", "3", "3;", "3;r1:4"])
def test_cursors_accepted(raw: str | None) -> None:
    turn_cursor.parse(raw)


def opened(rid: str, cid: str, n: int) -> IndexRecord:
    return IndexRecord(rid, "open", 0, 1.0, 1.0, conversation={"id": cid, "turn": n, "prompt": "q"})


async def test_recent_turns_are_watched_bounded_and_evicted_when_idle() -> None:
    recent = RecentTurns(size=2, idle_s=10)
    queue = recent.watch("a")
    recent.opened(opened("r1", "a", 1), now=0)
    recent.opened(opened("r1", "a", 1), now=0)  # read twice: once
    assert [t.rid for t in recent.of("a")] == ["r1"] and queue.qsize() == 1
    recent.opened(opened("r2", "b", 1), now=1)
    recent.opened(opened("r3", "c", 1), now=2)  # over the size: "a" goes, its watcher stays
    assert recent.of("a") == [] and recent.find("r1") is None and len(recent) == 2
    recent.opened(opened("r4", "a", 2), now=3)
    assert queue.qsize() == 2
    recent.evict(now=12.5)  # b and c idle for 10 s
    assert len(recent) == 1 and recent.find("r4") is not None
    recent.unwatch("a", queue)
