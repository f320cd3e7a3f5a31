"""Complete responses in the database, on SQLite and PostgreSQL, and replay beyond Kafka's
retention on real Kafka, worker and edge processes: a demo response (with a view) is stored
after it ends with every field; once its Kafka records are deleted, fresh edges serve its
stream (any cursor, Last-Event-ID, the view) and its snapshot from the database, byte for byte
what Kafka served; 410 when neither holds a response.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from app import events
from app.edge import sse
from app.producer import Publisher, new_response_id
from app.storage import migrate
from app.storage.records import RAW, StoredResponse
from app.storage.schema import event_logs
from app.storage.store import Store

from .conftest import on_database
from .kafkautil import delete_all_records
from .procs import Edge, Stack, up
from .sse import client_for, create

pytestmark = pytest.mark.integration

TOKENS = 120


@pytest.fixture
async def db_stack(stack: Stack, database_url: str) -> AsyncIterator[tuple[Stack, Store]]:
    async with on_database(stack, database_url) as store:
        yield stack, store


async def stored(store: Store, rid: str, timeout_s: float = 30.0) -> StoredResponse:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            got = await store.get(rid)
        except Exception:  # the SQLite file or its tables may not exist before the migration
            got = None
        if got is not None:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"{rid} was not stored within {timeout_s} s")


async def bodies(edge: Edge, rid: str) -> dict[str, bytes | int]:
    """Everything the tests compare: stream bodies at several cursors, the view, the snapshot."""
    async with client_for(edge.url) as c:
        url = f"/v1/responses/{rid}/events"

        async def get(path: str, **headers: str) -> bytes | int:
            resp = await c.get(path, headers=headers)
            return resp.content if resp.status_code == 200 else resp.status_code

        return {
            "full": await get(url),
            "after=5": await get(f"{url}?after=5"),
            "last-event-id=7": await get(url, **{"Last-Event-ID": "7"}),
            "view": await get(f"{url}?view=sentences"),
            "view last-event-id=2": await get(f"{url}?view=sentences", **{"Last-Event-ID": "2"}),
            "snapshot": await get(f"/v1/responses/{rid}"),
        }


async def test_persisted_and_replayed_beyond_retention(db_stack: tuple[Stack, Store]) -> None:
    stack, store = db_stack
    settings = stack.settings
    edge = await up(stack)
    body = {"model": "demo", "input": "Tell me about Kafka.", "views": ["sentences"],
            "params": {"tokens": TOKENS, "rate": 400}}  # fmt: skip
    async with client_for(edge.url) as c:
        rid = await create(c, body)
        live = await c.get(f"/v1/responses/{rid}/events")
        assert live.status_code == 200 and b"event: done" in live.content
    row = await stored(store, rid)
    before = await bodies(edge, rid)
    assert before["full"] == live.content
    assert all(isinstance(v, bytes) and v for v in before.values()), before

    # Every field, as the response was served.
    snap = httpx.Response(200, content=before["snapshot"]).json()  # type: ignore[arg-type]
    assert row.status == "done" and row.complete and row.missing is None
    assert row.sources == snap["sources"] and row.last_seq == snap["last_seq"]
    assert row.models == {"answer": "demo"} and row.views == ("sentences",)
    assert row.request is not None and row.request["rid"] == rid
    assert row.request["calls"][0]["model"] == "demo" and row.request_hash
    assert row.created_ms <= row.first_token_ms <= row.finished_ms <= row.stored_ms  # type: ignore[operator]
    raw = await store.log(rid, RAW)
    assert raw is not None and len(raw) == row.last_seq
    # The stored values are exactly the events the stream was framed from.
    assert b"".join(sse.frame(events.decode(v), v) for v in raw) == before["full"]
    assert (await store.log(rid, "sentences")) is not None

    # A response the database does not hold: the worker (and its persist agent) is gone.
    for proc in [p for p in stack.procs if p.name.startswith("worker")]:
        proc.stop()
    lost = new_response_id()
    async with Publisher(settings) as pub:
        w = pub.response(lost)
        await w.open()
        await w.delta("never stored")
        await w.done()

    # Kafka's retention passes: the events and the view's events are deleted.
    await delete_all_records(settings, settings.events_topic)
    await delete_all_records(settings, settings.view_topic("sentences"))
    fresh = await stack.edge()
    assert await bodies(fresh, rid) == before
    async with client_for(fresh.url) as c:
        assert (await c.get(f"/v1/responses/{lost}/events")).status_code == 410
        assert (await c.get(f"/v1/responses/{lost}")).status_code == 410
        # A cursor at or past the end the index recorded: 204 and 400, not an endless wait.
        async with asyncio.timeout(30):
            assert (await c.get(f"/v1/responses/{lost}/events?after=2")).status_code == 204
            assert (await c.get(f"/v1/responses/{lost}/events?after=3")).status_code == 400
        assert (await c.get(f"/v1/responses/{rid}/events?after={row.last_seq}")).status_code == 204
        beyond = await c.get(f"/v1/responses/{rid}/events?after={row.last_seq + 1}")
        assert beyond.status_code == 400

    # The index goes too: only the database knows the response.
    await delete_all_records(settings, settings.responses_topic)
    last = await stack.edge()
    assert await bodies(last, rid) == before
    async with client_for(last.url) as c:
        assert (await c.get(f"/v1/responses/{new_response_id()}/events")).status_code == 404


REPLAY_EVENTS = 10_000


async def test_replay_of_10000_events_from_storage(db_stack: tuple[Stack, Store]) -> None:
    """End to end through a real edge: a 10,000-event response only the database holds (no
    index record, no events in Kafka). The target is 200 ms; the bound here is looser, for a
    shared test machine, and the measurement is printed (docs/storage.md)."""
    stack, store = db_stack
    await migrate.upgrade(stack.settings.database_url)
    rid = new_response_id(time.time() * 1000 - 8 * 24 * 3600 * 1000)  # past Kafka's retention
    values = [
        events.encode(events.Event(rid, "delta", "answer", seq, 1.7e12 + seq, f"token{seq} "))
        for seq in range(1, REPLAY_EVENTS)
    ]
    values.append(events.encode(events.Event(rid, "done", "answer", REPLAY_EVENTS, 1.8e12)))
    row = StoredResponse(
        id=rid, status="done", partition=0, created_ms=1.7e12, first_token_ms=None,
        finished_ms=None, models={}, request=None, sources={}, usage=None, error=None,
        views=(), last_seq=REPLAY_EVENTS, logs={RAW: values},
    )  # fmt: skip
    assert await store.put([row]) == [rid]
    edge = await stack.edge()
    expected = b"".join(sse.frame(events.decode(v), v) for v in values)
    async with client_for(edge.url) as c:
        url = f"/v1/responses/{rid}/events"
        assert (await c.get(url)).content == expected  # warm: connection, database pool
        took = []
        for _ in range(5):
            start = time.perf_counter()
            resp = await c.get(url)
            took.append(time.perf_counter() - start)
            assert resp.content == expected
        half = await c.get(url, headers={"Last-Event-ID": str(REPLAY_EVENTS // 2)})
    assert half.content == expected[expected.index(b"id: %d\n" % (REPLAY_EVENTS // 2 + 1)) :]
    took.sort()
    backend = stack.settings.database_url.split(":")[0]
    print(f"\nreplay of {REPLAY_EVENTS} events from {backend}: median {took[2] * 1000:.0f} ms, "
          f"best {took[0] * 1000:.0f} ms, {len(expected)} bytes")  # fmt: skip
    assert took[2] < 1.0


async def test_view_neither_kafka_nor_storage_holds_is_410_not_a_wait(
    db_stack: tuple[Stack, Store],
) -> None:
    """A view of a finished response whose events Kafka deleted and storage lacks (stored before
    the view ended, or its row lost) answers 410: it was served as a live wait that never ends."""
    stack, store = db_stack
    settings = stack.settings
    edge = await up(stack)
    body = {"model": "demo", "input": "Tell me about Kafka.", "views": ["sentences"],
            "params": {"tokens": 40, "rate": 400}}  # fmt: skip
    async with client_for(edge.url) as c:
        rid = await create(c, body)
        assert b"event: done" in (await c.get(f"/v1/responses/{rid}/events")).content
    await stored(store, rid)
    async with store.engine.begin() as conn:
        await conn.execute(
            event_logs.delete().where(
                (event_logs.c.response_id == rid) & (event_logs.c.stream == "sentences")
            )
        )
    await delete_all_records(settings, settings.view_topic("sentences"))
    fresh = await stack.edge()
    async with client_for(fresh.url) as c, asyncio.timeout(30):
        view = await c.get(f"/v1/responses/{rid}/events?view=sentences")
        assert view.status_code == 410, view.content[:300]
        assert view.json()["error"]["code"] == "not_retained"
        raw = await c.get(f"/v1/responses/{rid}/events")  # the raw stream is still in Kafka
        assert raw.status_code == 200 and b"event: done" in raw.content
