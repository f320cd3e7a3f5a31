"""API keys and read tokens against a real worker and real edges on real Kafka, auth on: a read
token reads its response (events, a view, the snapshot) and nothing else, not even inside a
multiplexed stream; a conversation token its conversation; a key everything. The per-key
in-progress limit answers 429 with Retry-After and leaves other keys alone; the audit log names
the key; a token-read stream ends cleanly at expiry and a fresh token resumes it; read-token
secrets rotate without breaking tokens in flight. Keys come from the real `tokenrelay keys`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest

from app.audit import Record
from app.auth.tokens import kid
from app.storage.audit import AuditLog
from app.storage.store import Store

from .apikeys import bearer, create_key
from .conftest import started
from .procs import Edge, Stack
from .sse import TERMINAL, assert_contiguous, client_for, read_all, read_events
from .test_multiplex_stream import read_muxed

pytestmark = pytest.mark.integration

SECRET = "module-secret-" + "m" * 30
OLD, NEW = "old-secret-" + "o" * 30, "new-secret-" + "n" * 30
LIMIT = 2


@pytest.fixture(scope="module")
def auth_stack(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with started(
        broker, tmp_path_factory, auth="on", auth_cache_s=1.0, key_max_responses=LIMIT,
        read_token_secrets=SECRET,
    ) as s:  # fmt: skip
        yield s


@pytest.fixture
def edge(auth_stack: Stack, request: pytest.FixtureRequest) -> Iterator[Edge]:
    yield next(p for p in auth_stack.procs if isinstance(p, Edge))
    if getattr(getattr(request.node, "rep_call", None), "failed", False):
        print(f"\ntopic prefix {auth_stack.settings.topic_prefix}\n{auth_stack.report()}")


async def create(
    c: httpx.AsyncClient, key: str, tokens: int = 20, rate: float = 200, **extra: Any
) -> dict[str, Any]:
    body = {"model": "demo", "input": "Explain tokens.", "params": {"tokens": tokens, "rate": rate}}
    resp = await c.post("/v1/responses", json={**body, **extra}, headers=bearer(key))
    assert resp.status_code == 201, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def code(resp: httpx.Response | Any, status: int, want: str) -> None:
    body = resp.json() if isinstance(resp, httpx.Response) else orjson.loads(resp.body)
    got = resp.status_code if isinstance(resp, httpx.Response) else resp.status
    assert got == status, body
    assert body["error"]["code"] == want, body


async def test_a_read_token_reads_its_response_and_nothing_else(
    auth_stack: Stack, edge: Edge
) -> None:
    key = create_key(auth_stack, "reader-test")
    async with client_for(edge.url) as c:
        a = await create(c, key, views=["sentences"])
        b = await create(c, key)
        ta, tb = a["read_token"], b["read_token"]
        assert a["read_token_expires_ms"] > time.time() * 1000 + 3_000_000  # about an hour
        assert jwt.get_unverified_header(ta)["kid"] == kid(SECRET)
        code(await read_events(c, a["id"]), 401, "unauthorized")  # no credential
        c.headers.update(bearer(ta))
        whole = await read_all(c, a["id"], timeout_s=30)
        assert_contiguous(whole.events)
        view = await read_all(c, a["id"], view="sentences", timeout_s=30)
        assert view.events[-1].type == "done"
        snap = await c.get(f"/v1/responses/{a['id']}")
        assert snap.status_code == 200 and snap.json()["status"] == "done"
        # A's token, on B: its events, a view, its snapshot.
        code(await read_events(c, b["id"]), 403, "forbidden")
        code(await read_events(c, b["id"], view="sentences"), 403, "forbidden")
        resp = await c.get(f"/v1/responses/{b['id']}")
        code(resp, 403, "forbidden")
        assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
        # ... and a multiplexed stream that includes B.
        both = f"{a['id']}:0,{b['id']}:0"
        code(await read_muxed(c, both), 403, "forbidden")
        del c.headers["Authorization"]
        c.params = httpx.QueryParams([("token", ta), ("token", tb)])  # repeated ?token=
        got = await read_muxed(c, both, timeout_s=30)
        assert got.status == 200 and {e["rid"] for e in got.events} == {a["id"], b["id"]}
        assert [e["type"] for e in got.events].count("done") == 2
        c.params = httpx.QueryParams({"token": f"{ta},{tb}"})  # or comma-separated
        assert (await read_muxed(c, both, limit=1)).status == 200
        # A read token does not write; a key reads anything.
        resp = await c.post(f"/v1/responses/{a['id']}/cancel", headers=bearer(ta))
        code(resp, 401, "unauthorized")
        c.params = httpx.QueryParams()
        c.headers.update(bearer(key))
        assert (await c.get(f"/v1/responses/{b['id']}")).status_code == 200
        assert (await read_all(c, b["id"], timeout_s=30)).events[-1].type == "done"


async def test_a_conversation_token_reads_its_conversation(auth_stack: Stack, edge: Edge) -> None:
    key = create_key(auth_stack, "conversation-test")
    cid = f"c-auth-{time.time_ns()}"
    async with client_for(edge.url) as c:
        turn = await create(c, key, conversation_id=cid)
        assert {"conversation_token", "conversation_token_expires_ms"} <= set(turn)
        plain = await create(c, key)
        assert "conversation_token" not in plain  # a response outside any conversation
        token = turn["conversation_token"]
        deadline = time.monotonic() + 20
        while (
            resp := await c.get(f"/v1/conversations/{cid}", params={"token": token})
        ).status_code == 404:
            assert time.monotonic() < deadline, resp.text
            await asyncio.sleep(0.2)
        assert resp.status_code == 200 and resp.json()["turns"][0]["id"] == turn["id"]
        async with c.stream("GET", f"/v1/conversations/{cid}/events", params={"token": token}) as s:
            assert s.status_code == 200
            async for line in s.aiter_lines():
                if line.startswith("event: "):
                    assert line == "event: response"  # the turn is announced first
                    break
        code(
            await c.get(f"/v1/conversations/{cid}-other", params={"token": token}), 403, "forbidden"
        )
        # The response's own token does not open its conversation, and the other way round.
        rtoken = turn["read_token"]
        code(await c.get(f"/v1/conversations/{cid}", params={"token": rtoken}), 403, "forbidden")
        code(await c.get(f"/v1/responses/{turn['id']}", params={"token": token}), 403, "forbidden")
        assert (await c.get(f"/v1/conversations/{cid}", headers=bearer(key))).status_code == 200


async def test_per_key_limit_answers_429_and_leaves_other_keys_alone(
    auth_stack: Stack, edge: Edge
) -> None:
    busy, other = create_key(auth_stack, "busy"), create_key(auth_stack, "other")
    async with client_for(edge.url) as c:
        running = [await create(c, busy, tokens=5000, rate=50) for _ in range(LIMIT)]
        body = {"model": "demo", "input": "one more"}
        resp = await c.post("/v1/responses", json=body, headers=bearer(busy))
        code(resp, 429, "too_many_responses")
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await create(c, other))["id"]  # another key is not limited
        for r in running:  # cancelled: they end, and their slots free
            cancelled = await c.post(f"/v1/responses/{r['id']}/cancel", headers=bearer(busy))
            assert cancelled.status_code == 202, cancelled.text
        c.headers.update(bearer(busy))
        for r in running:
            assert (await read_all(c, r["id"], timeout_s=30)).events[-1].type == "cancelled"
        deadline = time.monotonic() + 10
        while (resp := await c.post("/v1/responses", json=body)).status_code == 429:
            assert time.monotonic() < deadline, "the slots were not freed"
            await asyncio.sleep(0.2)
        assert resp.status_code == 201, resp.text


async def audit_records(store: Store, rids: set[str], timeout_s: float = 30) -> list[Record]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [r async for r in AuditLog(store.engine).records() if r.rid in rids]
        if {(r.kind, r.rid) for r in found} >= {("response", rid) for rid in rids}:
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.3)


async def test_the_audit_log_names_the_key(auth_stack: Stack, edge: Edge) -> None:
    key = create_key(auth_stack, "auditor")
    async with client_for(edge.url) as c:
        r = await create(c, key, tokens=5, rate=100)
        cancelled = await c.post(f"/v1/responses/{r['id']}/cancel", headers=bearer(key))
        assert cancelled.status_code in (200, 202), cancelled.text
    store = Store.connect(auth_stack.settings.database_url)
    try:
        records = await audit_records(store, {r["id"]})
    finally:
        await store.close()
    assert {rec.kind for rec in records} >= {"response", "cancel"}
    for rec in records:
        assert rec.data["who"] == "auditor" and rec.data["key_id"].startswith("key_"), rec
        assert rec.data["client"] == "127.0.0.1"


async def test_an_expired_token_ends_the_stream_and_a_fresh_one_resumes(
    auth_stack: Stack, edge: Edge
) -> None:
    """Expiry mid-stream: the edge ends the stream cleanly (a comment says why), the reconnect
    with the same token gets 401, and a token minted by a key holder resumes from the last
    seq with no gap or repeat."""
    short = await auth_stack.edge(read_token_ttl_s=4.0)  # same secret, short-lived tokens
    key = create_key(auth_stack, "expiry-test")
    try:
        async with client_for(short.url) as c:
            r = await create(c, key, tokens=80, rate=16)  # about 5 s
            c.params = httpx.QueryParams({"token": r["read_token"]})
            first = await read_events(c, r["id"], timeout_s=20)
            assert first.status == 200 and first.ended == "eof", first.ended  # not terminal
            assert first.events and first.events[-1].type == "delta"
            assert time.time() * 1000 >= r["read_token_expires_ms"]
            again = await read_events(c, r["id"], last_event_id=first.events[-1].seq)
            code(again, 401, "unauthorized")
            assert "expired" in orjson.loads(again.body)["error"]["message"]
            got = first.events
            while got[-1].type not in TERMINAL:  # a fresh token per expiry (a slow machine)
                minted = await c.post("/v1/read_tokens", json={"response_id": r["id"]},
                                      headers=bearer(key))  # fmt: skip
                assert minted.status_code == 200, minted.text
                c.params = httpx.QueryParams({"token": minted.json()["read_token"]})
                more = await read_events(c, r["id"], last_event_id=got[-1].seq, timeout_s=20)
                assert more.status == 200, more.body
                got = got + more.events
        assert_contiguous(got)
    finally:
        short.stop()


async def test_read_token_secrets_rotate_without_breaking_tokens_in_flight(
    auth_stack: Stack, edge: Edge
) -> None:
    key = create_key(auth_stack, "rotation-test")
    old_edge = await auth_stack.edge(read_token_secrets=OLD)
    async with client_for(old_edge.url) as c:
        r = await create(c, key, tokens=10, rate=100)
    before = r["read_token"]
    assert jwt.get_unverified_header(before)["kid"] == kid(OLD)
    old_edge.stop()
    both = await auth_stack.edge(read_token_secrets=f"{NEW},{OLD}")  # restarted: new first
    try:
        async with client_for(both.url) as c:
            c.params = httpx.QueryParams({"token": before})
            assert (await read_all(c, r["id"], timeout_s=30)).events[-1].type == "done"
            later = await create(c, key, tokens=3, rate=100)
            after = later["read_token"]
            assert jwt.get_unverified_header(after)["kid"] == kid(NEW)
    finally:
        both.stop()
    new_only = await auth_stack.edge(read_token_secrets=NEW)  # the old secret retired
    try:
        async with client_for(new_only.url) as c:
            resp = await c.get(f"/v1/responses/{r['id']}", params={"token": before})
            code(resp, 401, "unauthorized")
            c.params = httpx.QueryParams({"token": after})
            snap = await c.get(f"/v1/responses/{later['id']}")
            assert snap.status_code == 200, snap.text
    finally:
        new_only.stop()
