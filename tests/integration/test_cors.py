"""CORS on a real edge (`TOKENRELAY_CORS_ORIGINS`): a listed origin gets the headers on every
kind of answer (JSON, an event stream sent on the server's raw `send`, a 429 with Retry-After
exposed) and its preflights pass; any other origin gets none. The demo page keeps its CSP.
An edge alone serves these (no worker: nothing here needs a response to run).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from .conftest import _failed, make_settings
from .held import assert_error, get, hold, hold_when_free, who
from .procs import EDGE_READY_TIMEOUT_S, Edge, Stack, _wait_blocking, free_port
from .sse import client_for, events_url

pytestmark = pytest.mark.integration

ORIGIN = "https://app.example"
PER_TOKEN = 2


@pytest.fixture(scope="module")
def cors_stack(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("cors")
    settings = dataclasses.replace(
        make_settings(broker.bootstrap, workdir),
        cors_origins=f"{ORIGIN}, https://other.example",
        edge_max_connections_per_token=PER_TOKEN,
        edge_trusted_proxies="127.0.0.1",
    )
    stack = Stack(settings, workdir)
    try:
        edge = stack.spawn_edge(free_port())

        def healthy() -> bool:
            try:
                return httpx.get(f"{edge.url}/healthz", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_blocking(edge, healthy, EDGE_READY_TIMEOUT_S)
        yield stack
    finally:
        stack.close()


@pytest.fixture
async def http(
    cors_stack: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    edge = next(p for p in cors_stack.procs if isinstance(p, Edge))
    async with client_for(edge.url) as c:
        yield c
    if _failed(request):
        print(f"\ntopic prefix {cors_stack.settings.topic_prefix}\n{cors_stack.report()}")


async def test_cors_allows_the_listed_origins_on_every_kind_of_answer(
    http: httpx.AsyncClient,
) -> None:
    origin = {"Origin": ORIGIN}
    models = await http.get("/v1/models", headers=origin)
    assert models.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in models.headers["vary"]
    created = await http.post("/v1/responses", json={"model": "demo", "input": "hi"},
                              headers=origin)  # fmt: skip
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == ORIGIN
    # An event stream (sent on the server's raw `send`, past Starlette's wrappers) too; 404
    # until the edge has read the response's `open` back from Kafka.
    rid = created.json()["id"]
    stream = await hold_when_free(http, events_url(rid), {**origin, **who(50)}, wait_for=404)
    assert stream.status == 200
    assert stream.resp.headers["access-control-allow-origin"] == ORIGIN
    await stream.drop()
    # And an error a page must be able to read, Retry-After included.
    token = {"Authorization": f"Bearer {secrets.token_hex(8)}"}
    held = [await hold(http, events_url(rid), {**who(51 + i), **token}) for i in range(PER_TOKEN)]
    refused = await get(http, events_url(rid), {**origin, **who(53), **token})
    assert_error(refused, 429, "too_many_connections")
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()
    for h in held:
        await h.drop()


@pytest.mark.parametrize(
    ("method", "headers"),
    [("POST", "authorization, content-type"), ("GET", "last-event-id"), ("GET", "authorization")],
)
async def test_cors_preflights_of_allowed_origins_pass(
    http: httpx.AsyncClient, method: str, headers: str
) -> None:
    resp = await http.options("/v1/responses", headers={
        "Origin": ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    })  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    assert method in resp.headers["access-control-allow-methods"]
    allowed = resp.headers["access-control-allow-headers"].lower()
    assert all(h.strip() in allowed for h in headers.split(","))
    assert "access-control-allow-credentials" not in resp.headers


async def test_cors_refuses_other_origins(http: httpx.AsyncClient) -> None:
    for origin in ("https://evil.example", "https://app.example.evil.example", "null"):
        resp = await http.get("/v1/models", headers={"Origin": origin})
        assert resp.status_code == 200  # the browser, not the edge, withholds it from the page
        assert "access-control-allow-origin" not in resp.headers
        assert "access-control-allow-credentials" not in resp.headers
        preflight = await http.options("/v1/responses", headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        })  # fmt: skip
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers
    # An allowed origin asking for a method or header the policy lacks is refused too.
    preflight = await http.options("/v1/responses", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"})  # fmt: skip
    assert preflight.status_code == 400


async def test_the_demo_page_keeps_its_content_security_policy(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Origin": ORIGIN}, {"Origin": "https://evil.example"}):
        page = await http.get("/", headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<meta http-equiv="Content-Security-Policy"' in page.text
        assert "default-src 'self'; script-src 'self'" in page.text
        assert "object-src 'none'" in page.text and "base-uri 'none'" in page.text
