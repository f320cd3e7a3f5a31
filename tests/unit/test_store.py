"""The store on both backends (SQLite and the session's PostgreSQL): migrations, idempotent
writes, and event logs that come back byte for byte."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.storage import eventlog, migrate
from app.storage.records import RAW, StoredResponse, request_hash
from app.storage.store import Store


def response(rid: str, **changes: object) -> StoredResponse:
    values = [b'{"rid":"%s","seq":%d}' % (rid.encode(), i) for i in range(1, 4)]
    base: dict[str, object] = dict(
        id=rid, status="done", partition=3, created_ms=1_700_000_000_000.25,
        first_token_ms=1_700_000_000_010.5, finished_ms=1_700_000_000_900.0,
        models={"answer": "demo"}, request={"rid": rid, "calls": [{"model": "demo"}]},
        sources={"answer": "héllo ☃"}, usage={"answer": {"input_tokens": 3}}, error=None,
        views=("sentences",), last_seq=3, stored_ms=1_700_000_001_000.0,
        logs={RAW: values, "sentences": [b'{"seq":1}']},
    )  # fmt: skip
    base.update(changes)
    return StoredResponse(**base)  # type: ignore[arg-type]


async def test_migrations_are_versioned_and_run_twice(database_url: str) -> None:
    assert await migrate.revision(database_url) is None
    await migrate.upgrade(database_url)
    await migrate.upgrade(database_url)
    assert await migrate.revision(database_url) == migrate.head()


async def test_two_processes_migrating_at_once_both_succeed(database_url: str) -> None:
    await asyncio.gather(migrate.upgrade(database_url), migrate.upgrade(database_url))
    assert await migrate.revision(database_url) == migrate.head()


async def test_round_trip_of_every_field(store: Store) -> None:
    r = response("r1")
    assert await store.put([r]) == ["r1"]
    got = await store.get("r1")
    assert got is not None
    assert got == StoredResponse(**{**_fields(r), "logs": {}})
    assert got.request_hash == request_hash({"calls": [{"model": "demo"}]})
    assert await store.log("r1") == list(r.logs[RAW])
    assert await store.log("r1", "sentences") == [b'{"seq":1}']
    assert await store.log("r1", "plain") is None
    assert await store.get("nope") is None and await store.log("nope") is None


async def test_put_is_idempotent(store: Store) -> None:
    first = response("r1")
    assert await store.put([first, response("r2")]) == ["r1", "r2"]
    # Delivered again, even with other content: the first stored copy stays, nothing doubles.
    assert await store.put([response("r1", status="error"), response("r3")]) == ["r3"]
    assert await store.put([response("r4"), response("r4")]) == ["r4"]
    assert (await store.get("r1")).status == "done"  # type: ignore[union-attr]
    assert await store.log("r1") == list(first.logs[RAW])
    assert await store.stored(["r1", "r2", "r3", "r4", "r5"]) == {"r1", "r2", "r3", "r4"}


async def test_concurrent_writers_store_once(database_url: str, store: Store) -> None:
    other = Store.connect(database_url)
    try:
        results = await asyncio.gather(
            *(s.put([response(f"r{i}") for i in range(20)]) for s in (store, other, store))
        )
    finally:
        await other.close()
    assert sorted(sum(results, [])) == sorted(f"r{i}" for i in range(20))


async def test_exact_bytes_of_a_large_log(store: Store) -> None:
    values = [b'{"seq":%d,"text":"t\\n\xe2\x98\x83"}\n' % i for i in range(10_000)]
    values += [b"", b"\x00\xff not json at all", b"\n\n"]
    assert await store.put([response("big", logs={RAW: values})]) == ["big"]
    assert await store.log("big") == values


@given(st.lists(st.binary(max_size=300), max_size=50))
def test_eventlog_round_trip(values: list[bytes]) -> None:
    assert eventlog.unpack(eventlog.pack(values)) == values


def test_eventlog_refuses_a_truncated_blob() -> None:
    with pytest.raises(ValueError):
        eventlog.unpack(eventlog.pack([b"abc"])[:-1])


def test_request_hash_ignores_key_order_and_rid() -> None:
    a = {"rid": "x", "calls": [{"model": "m", "messages": [{"role": "user", "content": "hi"}]}]}
    b = {"calls": [{"messages": [{"content": "hi", "role": "user"}], "model": "m"}], "rid": "y"}
    assert request_hash(a) == request_hash(b)


def _fields(r: StoredResponse) -> dict[str, object]:
    return {name: getattr(r, name) for name in StoredResponse.__slots__}  # type: ignore[attr-defined]
