"""Every error status the edge promises, each with its JSON body, and no 500 for any input.

All but the 410 test share one worker and edge (each test makes its own responses).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .kafkautil import delete_all_records, read_topic
from .procs import Edge, Stack, up
from .sse import (
    SseRead,
    assert_contiguous,
    client_for,
    create_demo,
    events_url,
    read_all,
    read_events,
)

pytestmark = pytest.mark.integration

Shared = tuple[Stack, Edge]


def assert_error(status: int, headers: httpx.Headers, body: bytes, want: int, code: str) -> None:
    assert status == want, f"expected {want} {code}, got {status}: {body[:300]!r}"
    assert headers["content-type"].startswith("application/json"), headers
    obj = httpx.Response(status, content=body).json()
    assert set(obj) == {"error"}, obj
    assert obj["error"]["code"] == code, obj
    assert isinstance(obj["error"]["message"], str) and obj["error"]["message"], obj


def assert_read_error(got: SseRead, want: int, code: str) -> None:
    assert_error(got.status, got.headers, got.body, want, code)


@pytest.fixture
async def client(shared: Shared) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(shared[1].url) as c:
        yield c


async def finished(client: httpx.AsyncClient, tokens: int = 40) -> tuple[str, SseRead]:
    rid = await create_demo(client, tokens=tokens, rate=2000)
    got = await read_all(client, rid)
    assert_contiguous(got.events)
    return rid, got


@pytest.mark.parametrize(
    ("header", "query"),
    [
        ("abc", None),
        ("-5", None),
        ("1.5", None),
        (None, "-1"),
        (None, "1e3"),
        (None, "abc"),
        (None, "0x10"),
        (None, "1.5"),
    ],
)
async def test_malformed_cursor_is_400(
    client: httpx.AsyncClient, header: str | None, query: str | None
) -> None:
    rid = await create_demo(client, tokens=40, rate=2000)
    got = await read_events(client, rid, last_event_id=header, after=query, timeout_s=15)
    assert_read_error(got, 400, "bad_cursor")


async def test_unknown_response_is_404(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    got = await read_events(client, "resp_000000000000000000000000", timeout_s=15)
    waited = time.monotonic() - started
    assert_read_error(got, 404, "unknown_response")
    # TOKENRELAY_EDGE_UNKNOWN_WAIT_MS=500: the edge waits about that long, not its 3 s default.
    assert waited < 2.5, f"404 took {waited:.2f}s"
    got = await read_events(client, "resp_000000000000000000000000", after=3, timeout_s=15)
    assert_read_error(got, 404, "unknown_response")
    snap = await client.get("/v1/responses/resp_000000000000000000000000")
    assert_error(snap.status_code, snap.headers, snap.content, 404, "unknown_response")


async def test_cursor_at_terminal_is_204(client: httpx.AsyncClient) -> None:
    rid, whole = await finished(client)
    last = whole.events[-1].seq
    for got in (
        await read_events(client, rid, last_event_id=last, timeout_s=15),
        await read_events(client, rid, after=last, timeout_s=15),
    ):
        assert got.status == 204, f"{got.status} {got.body[:300]!r}"
        assert got.body == b"" and got.events == []
    # One before the end: exactly the terminal event, then the stream ends.
    tail = await read_all(client, rid, last_event_id=last - 1, timeout_s=15)
    assert tail.events == whole.events[-1:]


async def test_oversized_post_is_413(shared: Shared, client: httpx.AsyncClient) -> None:
    limit = shared[0].settings.edge_max_body
    body = b'{"model": "demo", "input": "' + b"x" * (limit + 1024) + b'"}'
    resp = await client.post(
        "/v1/responses", content=body, headers={"content-type": "application/json"}
    )
    assert_error(resp.status_code, resp.headers, resp.content, 413, "body_too_large")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the edge must count
        yield b'{"model": "demo", "input": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}'

    resp = await client.post(
        "/v1/responses", content=chunked(), headers={"content-type": "application/json"}
    )
    assert_error(resp.status_code, resp.headers, resp.content, 413, "body_too_large")


async def test_a_post_over_kafkas_record_limit_is_413_not_503(client: httpx.AsyncClient) -> None:
    # Under the edge's body limit (1 MiB) and its input limit (400,000 characters) but over
    # what one Kafka record may hold (3-byte characters): librdkafka refused the request record
    # and the client got 503 `unavailable`, as if Kafka were down.
    body = '{"model": "demo", "input": "%s"}' % ("€" * 340_000)
    assert len(body.encode()) < 1 << 20
    resp = await client.post(
        "/v1/responses", content=body, headers={"content-type": "application/json"}
    )
    assert_error(resp.status_code, resp.headers, resp.content, 413, "body_too_large")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"model": "demo", "input": "unterminated',
        b"\xff\xfe\x00",
        b"",
        b"[]",
        b'"demo"',
        b'{"input": "no model"}',
        b'{"model": "no-such-model", "input": "hello"}',
        b'{"model": 7, "input": "hello"}',
        b'{"model": "demo"}',
        b'{"model": "demo", "input": 42}',
        b'{"model": "demo", "messages": "not a list"}',
    ],
)
async def test_malformed_post_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    resp = await client.post(
        "/v1/responses", content=body, headers={"content-type": "application/json"}
    )
    assert_error(resp.status_code, resp.headers, resp.content, 400, "bad_request")


async def test_no_request_produces_a_500(client: httpx.AsyncClient) -> None:
    rid, whole = await finished(client)
    last = whole.events[-1].seq
    odd: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", events_url(rid), {"params": {"after": str(last + 10)}}),
        ("GET", events_url(rid), {"params": {"after": "9" * 40}}),
        ("GET", events_url(rid), {"params": {"after": ""}}),
        ("GET", events_url(rid), {"params": {"after": " 3"}}),
        ("GET", events_url(rid), {"headers": {"Last-Event-ID": "9" * 40}}),
        ("GET", events_url(rid), {"headers": {"Last-Event-ID": "٣".encode()}}),  # Arabic 3
        ("GET", events_url(rid), {"params": {"after": "²"}}),
        ("GET", events_url("x" * 5000), {}),
        ("GET", events_url("%00"), {}),
        ("GET", events_url("..%2F..%2Fetc"), {}),
        ("GET", "/v1/responses/%FF%FE", {}),
        ("GET", "/v1/responses/" + "é" * 50, {}),
        ("POST", f"/v1/responses/{rid}/cancel", {}),
        ("POST", f"/v1/responses/{rid}/cancel", {}),
        ("POST", "/v1/responses/resp_000000000000000000000000/cancel", {}),
        ("POST", "/v1/responses/resp_000000000000000000000000/cancel", {"content": b"\xff"}),
        ("DELETE", f"/v1/responses/{rid}", {}),
        ("PUT", "/v1/responses", {"content": b"{}"}),
        ("POST", "/v1/responses", {"json": {"model": "demo", "input": "x", "params": []}}),
        (
            "POST",
            "/v1/responses",
            {"json": {"model": "demo", "input": "x", "params": {"tokens": "many"}}},
        ),
        (
            "POST",
            "/v1/responses",
            {"json": {"model": "demo", "input": "x", "params": {"tokens": -5, "rate": 0}}},
        ),
        ("POST", "/v1/responses", {"json": {"model": "demo", "messages": [{"role": 1}]}}),
        ("POST", "/v1/responses", {"json": {"model": "demo", "messages": []}}),
        (
            "POST",
            "/v1/responses",
            {"content": b'{"model":"demo","input":"x"}', "headers": {"content-type": "text/plain"}},
        ),
        ("POST", "/v1/responses", {"content": b"{" * 100_000}),
        ("GET", "/v1/responses", {}),
    ]
    seen = []
    for method, url, kwargs in odd:
        async with client.stream(method, url, **kwargs) as resp:
            body = b""
            if resp.headers.get("content-type", "").startswith("text/event-stream"):
                await resp.aclose()  # a stream (e.g. after= past the end): not an error
            else:
                body = await resp.aread()
        seen.append((method, url[:60], resp.status_code))
        assert resp.status_code < 500, f"{method} {url[:80]} {kwargs}: {resp.status_code} {body!r}"
        assert b"Traceback" not in body, f"{method} {url[:80]}: {body[:500]!r}"
        if 400 <= resp.status_code < 500 and url.startswith("/v1/responses") and body:
            obj = httpx.Response(resp.status_code, content=body).json()
            assert isinstance(obj["error"]["code"], str), (method, url, obj)
    # Whatever was asked above, the finished response still reads the same.
    assert (await read_all(client, rid)).events == whole.events


async def test_not_retained_is_410(stack: Stack) -> None:
    settings = stack.settings
    edge = await up(stack)
    async with client_for(edge.url) as client:
        rid, _ = await finished(client, tokens=60)

    await delete_all_records(settings, settings.events_topic)
    left = await read_topic(settings, settings.events_topic, until=lambda r: False, timeout_s=2)
    assert left == [], f"{len(left)} records survived delete_records"

    edge.stop()  # its memory holds the response; a new edge knows only what Kafka keeps
    # ... and what its storage keeps: an empty database here (test_persist_replay.py serves
    # the stored copy).
    edge = await stack.edge(database_url=f"sqlite:///{stack.workdir / 'empty.db'}")
    async with client_for(edge.url) as client:
        for got in (
            await read_events(client, rid, after=0, timeout_s=15),
            await read_events(client, rid, last_event_id=5, timeout_s=15),
        ):
            assert_read_error(got, 410, "not_retained")
        snap = await client.get(f"/v1/responses/{rid}")
        assert snap.status_code < 500, snap.text
