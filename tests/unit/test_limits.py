"""The edge's limits without a server: the input count, the per-key connection tallies (bounded,
emptied at zero), who a connection is counted under, and slots given back however a stream or
an endpoint ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from app.edge.limits import Connections, Tally, check_input, client_key, counted, credential
from app.edge.resume import Body
from app.edge.routes import on_error
from app.edge.stream import EventStream, Streams
from app.errors import TooLarge, TooManyConnections, UnknownResponse
from app.request.calls import parse_calls
from app.settings import Settings
from tests.unit.test_edge_stream import FakeServer, wait_until

SETTINGS = Settings(
    edge_max_connections_per_client=3,
    edge_max_connections_per_token=2,
    edge_trusted_proxies="10.0.0.1",
)


class _App:
    def __init__(self, connections: Connections) -> None:
        self.state = type("State", (), {})()
        self.state.edge = type("Edge", (), {"connections": connections})()


def request(
    peer: str = "192.0.2.1",
    headers: dict[str, str] | None = None,
    query: str = "",
    app: Any = None,
) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/events",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (peer, 50000),
        "app": app,
    }
    return Request(scope)


def test_input_counts_every_call_and_content_part() -> None:
    image = {"type": "image_url", "image_url": {"url": "z" * 20}}
    parts = [{"type": "text", "text": "y" * 30}, image]
    body = {"calls": [
        {"source": "a", "model": "demo", "input": "x" * 40},
        {"source": "b", "model": "demo", "messages": [{"role": "user", "content": parts}]},
    ]}  # fmt: skip
    calls = parse_calls(body, 8)
    check_input(calls, 40 + 30 + 20)  # a part's `type` labels it: not counted
    with pytest.raises(TooLarge) as caught:
        check_input(calls, 89)
    assert (caught.value.status, caught.value.code) == (413, "input_too_long")
    assert "90 characters, over this edge's 89" in str(caught.value)


def test_too_many_calls_and_streams_are_413_with_their_codes() -> None:
    from app.edge.multiplex import parse_streams

    with pytest.raises(TooLarge) as calls:
        parse_calls({"calls": [{"source": f"s{i}", "model": "demo", "input": "x"}
                               for i in range(3)]}, 2)  # fmt: skip
    with pytest.raises(TooLarge) as streams:
        parse_streams("r1:0,r2:0,r3:0", 2)
    assert (calls.value.status, calls.value.code) == (413, "too_many_calls")
    assert (streams.value.status, streams.value.code) == (413, "too_many_streams")


def test_a_tally_is_bounded_per_key_and_forgets_keys_at_zero() -> None:
    tally = Tally(2)
    assert tally.take("a") and tally.take("a") and not tally.take("a")
    assert tally.take("b")  # another key is not affected
    tally.give("a")
    assert tally.take("a")
    for _ in range(2):
        tally.give("a")
    tally.give("b")
    assert tally.counts == {}
    tally.give("c")  # never taken: nothing to give back, nothing stored
    assert tally.counts == {}
    unlimited = Tally(0)
    assert all(unlimited.take("x") for _ in range(1000))


def test_connections_per_address_and_per_credential() -> None:
    conns = Connections(SETTINGS)
    token = {"Authorization": "Bearer t-1"}
    slots = [conns.admit(request(headers=token)), conns.admit(request(query="token=t-1"))]
    with pytest.raises(TooManyConnections) as caught:  # a third with the token, even from elsewhere
        conns.admit(request(peer="192.0.2.99", headers=token))
    assert (caught.value.status, caught.value.code) == (429, "too_many_connections")
    assert caught.value.retry_after > 0
    assert conns.clients.counts == {"192.0.2.1": 2}  # the refused one took nothing
    slots.append(conns.admit(request()))  # same address, no token: the address's third
    with pytest.raises(TooManyConnections):
        conns.admit(request(headers={"Authorization": "Bearer other"}))
    assert len(conns.tokens.counts) == 1
    conns.admit(request(peer="192.0.2.2"))  # another client is not affected
    for slot in slots:
        slot.release()
        slot.release()  # twice is once
    assert conns.clients.counts == {"192.0.2.2": 1} and conns.tokens.counts == {}


def test_a_trusted_proxy_counts_the_forwarded_client() -> None:
    conns = Connections(SETTINGS)
    for n in range(3):
        conns.admit(request(peer="10.0.0.1", headers={"X-Forwarded-For": f"198.51.100.{n}"}))
    assert set(conns.clients.counts) == {f"198.51.100.{n}" for n in range(3)}
    # Not through a trusted proxy: X-Forwarded-For is the client's own say, ignored.
    forged = [request(peer="192.0.2.7", headers={"X-Forwarded-For": f"203.0.113.{n}"})
              for n in range(4)]  # fmt: skip
    for r in forged[:3]:
        conns.admit(r)
    with pytest.raises(TooManyConnections):
        conns.admit(forged[3])


def test_ipv6_is_counted_per_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("unknown") == "unknown" and client_key(None) is None


def test_the_credential_is_a_hash_of_what_was_presented() -> None:
    by_header = credential(request(headers={"Authorization": "Bearer sk-live-123"}))
    assert by_header == credential(request(headers={"authorization": "bearer  sk-live-123 "}))
    assert by_header == credential(request(query="token=sk-live-123"))
    assert by_header is not None and len(by_header) == 32 and "sk-live" not in by_header
    assert credential(request()) is None
    assert credential(request(headers={"Authorization": "Basic dXNlcjpwdw=="})) is None
    assert credential(request(headers={"Authorization": "Bearer "})) is None
    # The header wins over the query.
    both = request(headers={"Authorization": "Bearer a-token"}, query="token=b-token")
    assert credential(both) == credential(request(query="token=a-token"))


async def test_on_error_sends_retry_after_in_whole_seconds() -> None:
    response = await on_error(request(), TooManyConnections("busy", 2.2))
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    response = await on_error(request(), UnknownResponse("no"))
    assert response.status_code == 404 and "retry-after" not in response.headers


async def _endless() -> AsyncIterator[bytes]:
    while True:
        yield b": ping\n\n"
        await asyncio.sleep(0.01)


async def _noop() -> None:
    return None


async def test_counted_gives_the_slot_back_however_the_endpoint_ends() -> None:
    conns = Connections(SETTINGS)
    app = _App(conns)
    streams = Streams()
    opened: list[EventStream] = []

    async def endpoint(req: Request) -> Response:
        kind = req.query_params["kind"]
        if kind == "error":
            raise UnknownResponse("no such response")
        if kind == "204":
            return Response(status_code=204)
        stream = EventStream(Body(_endless(), _noop), streams, 5.0)
        opened.append(stream)
        return stream  # type: ignore[return-value]

    limited = counted(endpoint)
    with pytest.raises(UnknownResponse):
        await limited(request(query="kind=error", app=app))
    assert isinstance(await limited(request(query="kind=204", app=app)), Response)
    assert conns.clients.counts == {}

    servers, tasks = [], []
    for _ in range(3):
        stream = await limited(request(query="kind=sse", app=app))
        server = FakeServer()
        servers.append(server)
        tasks.append(asyncio.create_task(stream({"type": "http"}, server.receive, server.send)))
    with pytest.raises(TooManyConnections):
        await limited(request(query="kind=sse", app=app))
    await wait_until(lambda: all(s.bodies for s in servers))
    assert conns.clients.counts == {"192.0.2.1": 3}

    servers[0].disconnect()  # the client drops
    tasks[1].cancel()  # the server cancels the request
    await asyncio.wait_for(asyncio.gather(*tasks[:2], return_exceptions=True), 2)
    assert conns.clients.counts == {"192.0.2.1": 1}
    streams.close()  # the edge shuts down
    await asyncio.wait_for(tasks[2], 2)
    assert conns.clients.counts == {}


async def test_a_stream_whose_body_fails_to_close_still_gives_the_slot_back() -> None:
    async def broken() -> None:
        raise RuntimeError("release failed")

    released: list[bool] = []
    stream = EventStream(Body(_endless(), broken), Streams(), 5.0)
    stream.on_close.append(lambda: released.append(True))
    server = FakeServer()
    task = asyncio.create_task(stream({"type": "http"}, server.receive, server.send))
    await wait_until(lambda: bool(server.bodies))
    server.disconnect()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(task, 2)
    assert released == [True]
