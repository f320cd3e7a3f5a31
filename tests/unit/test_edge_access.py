"""The edge's checks (app/edge/access.py) on a small in-process app: which credential each kind
of endpoint takes, the statuses and headers it answers with, the per-key slot, the scope of
tokens on single, multiplexed and conversation reads, and a stream's end at its token's expiry.
(Against real processes: tests/integration/test_auth*.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import events
from app.auth import keys
from app.auth.keys import Key
from app.auth.tokens import ReadTokens, conversation_scope, response_scope
from app.edge import access
from app.edge.access import Access
from app.edge.expiring import EXPIRED, Expiring
from app.edge.inflight import Slots
from app.edge.keycache import KeyCache
from app.edge.routes import EXCEPTION_HANDLERS
from app.errors import Unavailable
from app.settings import Settings

SECRET = "s" * 40
GOOD, REVOKED = keys.new_key(), keys.new_key()
STORED = {
    keys.digest(GOOD): Key("key_a", "alice", 1.0),
    keys.digest(REVOKED): Key("key_r", "old", 1.0, revoked_ms=2.0),
}


async def ok(request: Request) -> Response:
    return JSONResponse(access.who(request))


async def create(request: Request) -> Response:
    if request.query_params.get("fail"):
        raise Unavailable("Kafka is not reachable")
    return JSONResponse(access.issued(request, request.query_params["rid"], None), status_code=201)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async def lookup(digest: str) -> Key | None:
        return STORED.get(digest)

    tokens = ReadTokens([SECRET], ttl_s=60)
    checks = Access(KeyCache(lookup, 5), tokens, Slots(1, lambda rid: None))
    app = Starlette(
        routes=[
            Route("/w", access.writes(ok), methods=["POST"]),
            Route("/c", access.creates(create), methods=["POST"]),
            Route("/r/{rid}", access.reads_response(ok)),
            Route("/m", access.reads_streams(ok)),
            Route("/conv/{cid}", access.reads_conversation(ok)),
            Route("/mint", access.mint, methods=["POST"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
    app.state.edge = SimpleNamespace(settings=Settings(edge_max_streams=4), access=checks)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://edge"
    ) as c:
        c.tokens = tokens  # type: ignore[attr-defined]
        yield c


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def token(c: httpx.AsyncClient, scope: str) -> str:
    issued: str = c.tokens.issue(scope)[0]  # type: ignore[attr-defined]
    return issued


def error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code, resp.text


async def test_writes_need_a_valid_key(client: httpx.AsyncClient) -> None:
    resp = await client.post("/w")
    error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="tokenrelay"'
    for bad in (keys.new_key(), REVOKED, token(client, response_scope("r1")), "x"):
        resp = await client.post("/w", headers=bearer(bad))
        error(resp, 401, "unauthorized")
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    resp = await client.post("/w", headers=bearer(REVOKED))
    assert "revoked" in resp.json()["error"]["message"]
    error(await client.post("/w", headers={"Authorization": "Basic abc"}), 401, "unauthorized")
    resp = await client.post("/w", headers=bearer(GOOD))
    assert resp.status_code == 200 and resp.json() == {"who": "alice", "key_id": "key_a"}


async def test_create_answers_tokens_and_holds_a_slot(client: httpx.AsyncClient) -> None:
    error(await client.post("/c", params={"rid": "r1"}), 401, "unauthorized")
    failed = await client.post("/c", params={"rid": "r0", "fail": "1"}, headers=bearer(GOOD))
    error(failed, 503, "unavailable")  # its slot is given back
    resp = await client.post("/c", params={"rid": "r1"}, headers=bearer(GOOD))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {"read_token", "read_token_expires_ms"}
    assert body["read_token_expires_ms"] > events.now_ms() + 50_000
    read = await client.get("/r/r1", headers=bearer(body["read_token"]))
    assert read.status_code == 200 and read.json() == {"who": None, "key_id": None}
    full = await client.post("/c", params={"rid": "r2"}, headers=bearer(GOOD))
    error(full, 429, "too_many_responses")
    assert int(full.headers["Retry-After"]) >= 1


async def test_a_read_token_reads_its_response_only(client: httpx.AsyncClient) -> None:
    a = token(client, response_scope("A"))
    assert (await client.get("/r/A", headers=bearer(a))).status_code == 200
    assert (await client.get("/r/A", params={"token": a})).status_code == 200
    resp = await client.get("/r/B", params={"token": a})
    error(resp, 403, "forbidden")
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    error(await client.get("/r/A"), 401, "unauthorized")
    expired = client.tokens.issue(response_scope("A"), now_s=time.time() - 3600)[0]  # type: ignore[attr-defined]
    resp = await client.get("/r/A", params={"token": expired})
    error(resp, 401, "unauthorized")
    assert "expired" in resp.json()["error"]["message"]
    assert (await client.get("/r/B", headers=bearer(GOOD))).status_code == 200  # a key reads all
    error(await client.get("/r/B", params={"token": GOOD}), 401, "unauthorized")  # not in URLs
    conv = token(client, conversation_scope("A"))
    error(await client.get("/r/A", params={"token": conv}), 403, "forbidden")


async def test_a_multiplexed_read_needs_every_stream_covered(client: httpx.AsyncClient) -> None:
    a, b = token(client, response_scope("A")), token(client, response_scope("B"))
    error(await client.get("/m", params={"streams": "A:0,B:3", "token": a}), 403, "forbidden")
    resp = await client.get("/m", params=[("streams", "A:0,B:3"), ("token", a), ("token", b)])
    assert resp.status_code == 200
    assert (
        await client.get("/m", params={"streams": "A,B", "token": f"{a},{b}"})
    ).status_code == 200
    resp = await client.get("/m", params={"streams": "A,B", "token": b}, headers=bearer(a))
    assert resp.status_code == 200  # a header token and a query token together
    error(await client.get("/m", params={"streams": "A", "token": "x"}), 401, "unauthorized")
    error(await client.get("/m", params={"streams": "", "token": a}), 400, "bad_request")


async def test_conversations_need_their_own_token(client: httpx.AsyncClient) -> None:
    c1 = token(client, conversation_scope("c1"))
    assert (await client.get("/conv/c1", params={"token": c1})).status_code == 200
    error(await client.get("/conv/c2", params={"token": c1}), 403, "forbidden")
    rtoken = token(client, response_scope("c1"))
    error(await client.get("/conv/c1", params={"token": rtoken}), 403, "forbidden")
    assert (await client.get("/conv/c2", headers=bearer(GOOD))).status_code == 200


async def test_mint_gives_a_backend_fresh_tokens(client: httpx.AsyncClient) -> None:
    error(await client.post("/mint", json={"response_id": "A"}), 401, "unauthorized")
    resp = await client.post("/mint", json={"response_id": "A"}, headers=bearer(GOOD))
    assert resp.status_code == 200
    assert (
        await client.get("/r/A", params={"token": resp.json()["read_token"]})
    ).status_code == 200
    resp = await client.post("/mint", json={"conversation_id": "c1"}, headers=bearer(GOOD))
    got = await client.get("/conv/c1", params={"token": resp.json()["conversation_token"]})
    assert got.status_code == 200
    for bad in ({}, {"response_id": 3}, {"response_id": "A", "conversation_id": "c"}, [1]):
        resp = await client.post("/mint", json=bad, headers=bearer(GOOD))
        error(resp, 400, "bad_request")


class Ticking:
    """A stream body yielding an item every 10 ms, recording whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._items()

    async def _items(self) -> AsyncIterator[bytes]:
        n = 0
        while True:
            await asyncio.sleep(0.01)
            n += 1
            yield b"data: %d\n\n" % n

    async def aclose(self) -> None:
        self.closed = True


async def test_a_stream_ends_cleanly_at_its_tokens_expiry() -> None:
    # No lower bound on the items passed through: a loaded machine may stall the 10 ms ticks
    # past the whole 300 ms. Ticks never come faster, so at most 30 pass before it ends.
    inner = Ticking()
    started = events.now_ms()
    body = Expiring(inner, started + 300)
    got: list[Any] = [item async for item in body]
    assert got[-1] == EXPIRED and len(got) <= 31
    assert events.now_ms() >= started + 300  # not ended before its expiry
    assert all(item.startswith(b"data: ") for item in got[:-1])
    await body.aclose()
    assert inner.closed
