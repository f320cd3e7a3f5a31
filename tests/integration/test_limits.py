"""The edge's limits on real processes: every limit answers its status and JSON error (429s with
Retry-After) while another client streams and posts on undisturbed; connection slots come back
however a stream ends. Clients are told apart by X-Forwarded-For through a trusted proxy (all
of them are 127.0.0.1 here).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from .conftest import _failed, started
from .held import assert_error, get, hold, hold_when_free, who
from .procs import Edge, Stack
from .sse import client_for, create_demo, events_url, read_all

pytestmark = pytest.mark.integration

PER_CLIENT = 3
PER_TOKEN = 2
MAX_INPUT = 2000
MAX_BODY = 64 * 1024
MAX_STREAMS = 2
MAX_CALLS = 2


@pytest.fixture(scope="module")
def limited(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    overrides = {
        "edge_max_connections_per_client": PER_CLIENT,
        "edge_max_connections_per_token": PER_TOKEN,
        "edge_trusted_proxies": "127.0.0.1",
        "edge_max_input_chars": MAX_INPUT,
        "edge_max_body": MAX_BODY,
        "edge_max_streams": MAX_STREAMS,
        "generation_max_calls": MAX_CALLS,
    }
    with started(broker, tmp_path_factory, **overrides) as s:
        yield s


@pytest.fixture
async def http(limited: Stack, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    edge = next(p for p in limited.procs if isinstance(p, Edge))
    async with client_for(edge.url) as c:
        yield c
    if _failed(request):
        print(f"\ntopic prefix {limited.settings.topic_prefix}\n{limited.report()}")


async def conversation(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    cid = f"lim-{secrets.token_hex(4)}"
    body = {"model": "demo", "input": "hi", "params": {"tokens": 200, "rate": 20},
            "conversation_id": cid}  # fmt: skip
    resp = await http.post("/v1/responses", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return cid


async def test_a_client_over_its_connections_gets_429_and_others_stream_on(
    http: httpx.AsyncClient,
) -> None:
    a, b = who(10), who(11)
    rid = await create_demo(http, tokens=200, rate=20)  # ~10 s of tokens
    cid = await conversation(http, a)
    other = await hold(http, events_url(rid), b)
    first = await other.event()
    endpoints = [
        (events_url(rid), None),
        ("/v1/events", {"streams": f"{rid}:0"}),
        (f"/v1/conversations/{cid}/events", None),
    ]
    # One of each kind (the edge learns of the conversation's turn from Kafka: 404 until then).
    held = [await hold_when_free(http, url, a, params, wait_for=404) for url, params in endpoints]
    assert [h.status for h in held] == [200] * PER_CLIENT
    for url, params in endpoints:  # the fourth, on any streaming endpoint
        assert_error(await get(http, url, a, params), 429, "too_many_connections")
    # The same client's POSTs and snapshots are not connections.
    assert (await http.post("/v1/responses", json={"model": "demo", "input": "x"},
                            headers=a)).status_code == 201  # fmt: skip
    assert (await http.get(f"/v1/responses/{rid}", headers=a)).status_code == 200
    # The other client streamed on meanwhile, and opens more.
    later = await other.event()
    assert later["seq"] > first["seq"]
    more = await hold(http, "/v1/events", b, {"streams": f"{rid}:0"})
    assert more.status == 200 and (await more.event())["rid"] == rid
    for h in [*held, other, more]:
        await h.drop()


async def test_a_credential_over_its_connections_gets_429_from_any_address(
    http: httpx.AsyncClient,
) -> None:
    rid = await create_demo(http, tokens=200, rate=20)
    token = f"tok-{secrets.token_hex(8)}"
    held = [
        await hold(http, events_url(rid), who(20, Authorization=f"Bearer {token}")),
        await hold(http, events_url(rid), who(21), {"token": token}),  # the same, by query
    ]
    assert [h.status for h in held] == [200] * PER_TOKEN
    resp = await get(http, events_url(rid), who(22, Authorization=f"Bearer {token}"))
    assert_error(resp, 429, "too_many_connections")
    # From that same address, another credential and none at all stream on.
    others = [
        await hold(http, events_url(rid), who(22, Authorization="Bearer someone-else")),
        await hold(http, events_url(rid), who(22)),
    ]
    assert [h.status for h in others] == [200, 200]
    assert (await others[0].event())["seq"] >= 1
    for h in [*held, *others]:
        await h.drop()


async def test_slots_come_back_however_streams_end(http: httpx.AsyncClient) -> None:
    a = who(30)
    rid = await create_demo(http, tokens=200, rate=20)
    for _ in range(3):  # open them all, drop them all: the same number opens again
        held = [await hold_when_free(http, events_url(rid), a) for _ in range(PER_CLIENT)]
        assert_error(await get(http, events_url(rid), a), 429, "too_many_connections")
        for h in held:
            await h.drop()
    # Streams that end at their terminal event, and answers that are not streams (404, 204).
    done = await create_demo(http, tokens=5, rate=0)
    whole = await read_all(http, done)
    last = whole.events[-1].seq
    for _ in range(PER_CLIENT + 2):
        ended = await hold_when_free(http, events_url(done), a)
        while (await ended.event())["seq"] < last:
            pass
        await ended.rest()
        assert (await get(http, events_url(done), a, {"after": str(last)})).status_code == 204
        missing = await get(http, events_url("resp_000000000000000000000000"), a)
        assert_error(missing, 404, "unknown_response")
    held = [await hold_when_free(http, events_url(rid), a) for _ in range(PER_CLIENT)]
    for h in held:
        await h.drop()


SIZE_LIMITS = [
    ("input", 413, "input_too_long"),
    ("messages", 413, "input_too_long"),
    ("body", 413, "body_too_large"),
    ("calls", 413, "too_many_calls"),
    ("streams", 413, "too_many_streams"),
]


def oversized(kind: str, rid: str) -> tuple[str, str, dict[str, Any]]:
    if kind == "input":
        return "POST", "/v1/responses", {"json": {"model": "demo", "input": "x" * (MAX_INPUT + 1)}}
    if kind == "messages":  # the total over every call and message, not each one
        calls = [{"source": f"s{i}", "model": "demo", "messages": [
            {"role": "system", "content": "y" * (MAX_INPUT // 4)},
            {"role": "user", "content": [{"type": "text", "text": "z" * (MAX_INPUT // 4 + 1)}]},
        ]} for i in range(MAX_CALLS)]  # fmt: skip
        return "POST", "/v1/responses", {"json": {"calls": calls}}
    if kind == "body":
        return "POST", "/v1/responses", {"content": b'{"input": "' + b"x" * MAX_BODY + b'"}'}
    if kind == "calls":
        calls = [{"source": f"s{i}", "model": "demo", "input": "x"} for i in range(MAX_CALLS + 1)]
        return "POST", "/v1/responses", {"json": {"calls": calls}}
    streams = ",".join([f"{rid}:0"] * 1 + [f"resp_{i:024d}:0" for i in range(MAX_STREAMS)])
    return "GET", "/v1/events", {"params": {"streams": streams}}


@pytest.mark.parametrize(("kind", "status", "code"), SIZE_LIMITS)
async def test_a_request_over_a_size_limit_is_refused_and_others_go_on(
    http: httpx.AsyncClient, kind: str, status: int, code: str
) -> None:
    rid = await create_demo(http, tokens=200, rate=20)
    other = await hold(http, events_url(rid), who(41))
    first = await other.event()
    method, url, kwargs = oversized(kind, rid)
    async with asyncio.timeout(15):
        resp = await http.request(method, url, headers=who(40), **kwargs)
    assert_error(resp, status, code)
    # At the limit is fine, for the same client too.
    fits = {"model": "demo", "input": "x" * MAX_INPUT, "params": {"tokens": 3}}
    assert (await http.post("/v1/responses", json=fits, headers=who(40))).status_code == 201
    ok = await http.post("/v1/responses", json={"model": "demo", "input": "hi"}, headers=who(41))
    assert ok.status_code == 201, ok.text
    assert (await other.event())["seq"] > first["seq"]
    await other.drop()


async def test_cors_is_off_by_default(http: httpx.AsyncClient) -> None:
    for origin in ("https://app.example", "null"):
        resp = await http.get("/v1/models", headers={"Origin": origin})
        assert resp.status_code == 200
        assert not [h for h in resp.headers if h.startswith("access-control-")], resp.headers
        preflight = await http.options("/v1/responses", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code == 405  # no route answers OPTIONS: no CORS
