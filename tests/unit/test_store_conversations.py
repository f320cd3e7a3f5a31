"""The store's conversation columns and query, on SQLite and PostgreSQL: a turn's conversation
and number come from its request and are stored in their columns; a conversation's turns come
back in order; a plain response is the first turn of the conversation named by its id."""

from __future__ import annotations

from sqlalchemy import select

from app.storage.records import StoredResponse
from app.storage.schema import responses
from app.storage.store import Store


def turn(rid: str, cid: str | None, n: int | None, created: float) -> StoredResponse:
    request: dict[str, object] = {"rid": rid, "calls": [{"source": "answer", "messages": []}]}
    if cid is not None:
        request["conversation"] = {"id": cid, "turn": n}
    return StoredResponse(
        id=rid, status="done", partition=0, created_ms=created, first_token_ms=None,
        finished_ms=None, models={}, request=request, sources={"answer": rid}, usage=None,
        error=None, views=(), last_seq=1,
    )  # fmt: skip


async def test_turns_come_back_in_order_with_their_columns(store: Store) -> None:
    await store.put([turn("r3", "c1", 3, 3.0), turn("r1", "c1", 1, 1.0), turn("x", "c2", 1, 0.5)])
    await store.put([turn("r2", "c1", 2, 2.0), turn("plain", None, None, 0.0)])
    got = await store.conversation("c1")
    assert [(r.id, r.conversation_id, r.turn) for r in got] == [
        ("r1", "c1", 1), ("r2", "c1", 2), ("r3", "c1", 3),
    ]  # fmt: skip
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(responses).where(responses.c.id == "r2"))).first()
    assert row is not None and (row.conversation_id, row.turn) == ("c1", 2)
    assert await store.conversation("nothing") == []


async def test_a_plain_response_starts_the_conversation_named_by_its_id(store: Store) -> None:
    await store.put([turn("plain", None, None, 0.0), turn("next", "plain", 2, 1.0)])
    assert [r.id for r in await store.conversation("plain")] == ["plain", "next"]


async def test_a_new_turn_reads_only_the_latest_turns_it_can_use(store: Store) -> None:
    await store.put([turn(f"r{n}", "c", n, float(n)) for n in range(1, 8)])
    assert [r.id for r in await store.conversation("c", latest=3)] == ["r5", "r6", "r7"]
    assert [r.id for r in await store.conversation("c", latest=2, upto=4)] == ["r3", "r4"]
    assert await store.turn_numbers("c") == (7, 7)
    assert await store.turn_numbers("c", upto=4) == (4, 7)
    assert await store.turn_numbers("nothing") == (0, 0)
