"""tokenrelay through a real nginx with infra/nginx/tokenrelay.conf, each property beside a
negative control that shows the test can fail: events arrive one by one (control: buffering on
and the main config's gzip); no gzip on event streams (control: our `gzip off` removed);
heartbeats keep a quiet stream open past proxy_read_timeout (control: heartbeats rarer than
it); upstream keepalive (control: without it); one response's readers on one edge, resuming on
another when that edge is killed.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from app.ids import new_response_id
from app.producer import Publisher, ResponseWriter
from app.settings import Settings

from .nginx import Nginx, established
from .procs import Edge, Stack
from .proxied import finished_response, lockstep
from .sse import SseRead, assert_contiguous, client_for, read_events, read_through_drops

pytestmark = pytest.mark.integration

ARRIVAL_TIMEOUT_S = 10.0  # an event through an unbuffered proxy: milliseconds, in practice
HELD_S = 2.0  # through a buffering proxy, the first small event is still held after this long


@pytest.fixture
def proxies(tmp_path: Path, stack: Stack) -> Iterator[list[Nginx]]:
    started: list[Nginx] = []
    yield started
    for n in started:
        n.stop()
    if any(not p.alive for p in stack.procs):
        print("\n".join(n.report() for n in started))


def nginx(
    proxies: list[Nginx], tmp_path: Path, edges: list[Edge], changes: dict[str, str] | None = None
) -> Nginx:
    n = Nginx(tmp_path, [e.port for e in edges], changes)
    proxies.append(n)
    return n


async def open_response(settings: Settings) -> tuple[Publisher, str]:
    pub = Publisher(settings)
    await pub.start()
    return pub, new_response_id()


@asynccontextmanager
async def streaming(
    proxy: Nginx, settings: Settings
) -> AsyncIterator[tuple[ResponseWriter, SseRead, asyncio.Task[SseRead]]]:
    """A new response's writer, and its events as read through `proxy` while it is written."""
    pub, rid = await open_response(settings)
    writer = pub.response(rid)
    await writer.open()
    read = SseRead(0, httpx.Headers())
    async with client_for(proxy.url) as client:
        reader = asyncio.create_task(read_events(client, rid, into=read, timeout_s=120))
        try:
            yield writer, read, reader
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await pub.stop()


async def test_events_arrive_one_by_one(stack: Stack, tmp_path: Path, proxies: list[Nginx]) -> None:
    edge = await stack.edge()
    proxy = nginx(proxies, tmp_path, [edge])
    assert (await lockstep(proxy.url, stack.settings, 5, ARRIVAL_TIMEOUT_S))[0] == 5
    # Control: buffering on (the edge's X-Accel-Buffering: no ignored) and our `gzip off`
    # removed, so the main config's gzip applies: the first event is held. (nginx 1.22 still
    # forwards small writes with only one of the two; with both it waits to fill a buffer.)
    changes = {
        "proxy_buffering off;": "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;",
        "gzip off;": "",
    }
    held = nginx(proxies, tmp_path, [edge], changes)
    assert (await lockstep(held.url, stack.settings, 1, HELD_S))[0] == 0


async def test_no_gzip_on_event_streams(stack: Stack, tmp_path: Path, proxies: list[Nginx]) -> None:
    edge = await stack.edge()
    rid = await finished_response(stack.settings, deltas=20, repeat=20)
    gz = {"Accept-Encoding": "gzip"}
    async with client_for(nginx(proxies, tmp_path, [edge]).url) as client:
        resp = await client.get(f"/v1/responses/{rid}/events", headers=gz)
        assert resp.status_code == 200 and b"event: done" in resp.content
        assert "content-encoding" not in resp.headers
    # Control: the main config's `gzip on` for text/event-stream applies without ours.
    async with client_for(nginx(proxies, tmp_path, [edge], {"gzip off;": ""}).url) as client:
        resp = await client.get(f"/v1/responses/{rid}/events", headers=gz)
        assert resp.headers.get("content-encoding") == "gzip"


async def quiet_stream(proxy: Nginx, settings: Settings, quiet_s: float) -> SseRead:
    """A response that writes nothing for `quiet_s`, then ends: what its reader got."""
    async with streaming(proxy, settings) as (writer, read, reader):
        await asyncio.sleep(quiet_s)
        await writer.done()
        await writer.flush()
        try:
            await asyncio.wait_for(asyncio.shield(reader), 15)
        except TimeoutError:
            pass
        except httpx.TransportError:
            read.ended = "broken"  # nginx gave up on the upstream mid-body
    return read


async def test_heartbeats_keep_a_quiet_stream_open(
    stack: Stack, tmp_path: Path, proxies: list[Nginx]
) -> None:
    timeout = {"proxy_read_timeout 60s;": "proxy_read_timeout 3s;"}
    fast = await stack.edge(heartbeat_s=1.0)
    read = await quiet_stream(nginx(proxies, tmp_path, [fast], timeout), stack.settings, 7)
    assert read.ended == "terminal" and read.pings >= 4, (read.ended, read.pings)
    assert [e.type for e in read.events] == ["done"]
    # Control: heartbeats rarer than nginx's read timeout: it cuts the stream before the end.
    slow = await stack.edge(heartbeat_s=30.0)
    cut = await quiet_stream(nginx(proxies, tmp_path, [slow], timeout), stack.settings, 7)
    assert cut.ended in ("eof", "broken") and not cut.events, cut


async def test_upstream_connections_are_kept_alive(
    stack: Stack, tmp_path: Path, proxies: list[Nginx]
) -> None:
    edge = await stack.edge()
    rid = await finished_response(stack.settings, deltas=2)

    async def idle_after_requests(proxy: Nginx) -> int:
        async with client_for(proxy.url) as client:
            for _ in range(10):
                assert (await client.get(f"/v1/responses/{rid}")).status_code == 200
        await asyncio.sleep(0.3)
        return established(edge.port)

    assert await idle_after_requests(nginx(proxies, tmp_path, [edge])) >= 1
    for n in proxies:
        n.stop()
    await asyncio.sleep(0.3)
    # Control: without `keepalive`, nginx closes its connection to the edge after each request.
    plain = nginx(proxies, tmp_path, [edge], {"keepalive 32;": ""})
    assert await idle_after_requests(plain) == 0


async def test_one_response_one_edge_and_resume_on_another(
    stack: Stack, tmp_path: Path, proxies: list[Nginx]
) -> None:
    edges = [await stack.edge(), await stack.edge()]
    proxy = nginx(proxies, tmp_path, edges)
    rids = [await finished_response(stack.settings, deltas=1) for _ in range(20)]
    served: dict[str, set[str]] = {}
    async with client_for(proxy.url) as client:
        for rid in rids:
            for path in (
                f"/v1/responses/{rid}",
                f"/v1/responses/{rid}/events",
                f"/v1/responses/{rid}",
            ):
                resp = await client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)
                served.setdefault(rid, set()).add(resp.headers["x-upstream"])
    assert all(len(upstreams) == 1 for upstreams in served.values()), served
    assert len(set().union(*served.values())) == 2  # and the responses spread over both edges

    # A response streaming through nginx; the edge it is routed to is killed mid-stream.
    pub, rid = await open_response(stack.settings)
    writer = pub.response(rid)
    await writer.open()
    try:
        async with client_for(proxy.url) as client:
            reader = asyncio.create_task(read_through_drops(client, rid, timeout_s=120))
            for i in range(60):
                await writer.delta(f"t{i} ")
                await writer.flush()
                if i == 20:
                    await asyncio.sleep(0.3)
                    owner = (await client.get(f"/v1/responses/{rid}")).headers["x-upstream"]
                    victim = next(e for e in edges if owner.endswith(f":{e.port}"))
                    victim.popen.send_signal(signal.SIGKILL)
                await asyncio.sleep(0.02)
            await writer.done()
            await writer.flush()
            read = await asyncio.wait_for(reader, 120)
    finally:
        await pub.stop()
    assert read.reconnects >= 1
    assert_contiguous(read.events)
    assert "".join(e.text for e in read.events) == "".join(f"t{i} " for i in range(60))
