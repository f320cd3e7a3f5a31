"""SIGTERM, one process at a time (docs/operations.md).

Edge: every open stream gets a `retry:` hint after whole frames and ends within a bound, the
edge answers no 200 on /healthz from then on, refuses new connections and exits. In process,
with the real app on real Kafka: /healthz is 503 as soon as the streams are closed.
Worker: its responses mid-generation end with `done` and contiguous seqs (no `worker_stopped`,
no watchdog `producer_lost`), nothing is written twice to the log, and a request created while
it drains is run by the next worker. The old behaviour (stop = a retriable error at once) fails
the worker test on its terminal events.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import defaultdict

import httpx
import orjson
import pytest

from app.edge.main import close_streams, create_app
from app.settings import Settings

from .kafkautil import read_topic
from .procs import Proc, Stack
from .sse import assert_contiguous, client_for, create_demo, read_all, wait_known

pytestmark = pytest.mark.integration

RETRY_MS = 300
EDGE_EXIT_S = 15.0  # uvicorn's graceful timeout (3 s) plus the lifespan's shutdown, generously
DRAIN_S = 25.0
FRAME = re.compile(rb"(?::[^\n]*\n\n|id: \d+\nevent: [a-z.]+\ndata: [^\n]*\n\n)+")


async def wait_exit(proc: Proc, timeout_s: float) -> float:
    """Seconds until `proc` exits (AssertionError past `timeout_s`)."""
    started = time.monotonic()
    while proc.alive:
        assert time.monotonic() - started < timeout_s, f"{proc.name} still running"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def raw_stream(client: httpx.AsyncClient, rid: str, opened: asyncio.Event) -> bytes:
    """The bytes of one stream, to its end; `opened` once the first event arrived."""
    got = b""
    async with client.stream("GET", f"/v1/responses/{rid}/events") as resp:
        assert resp.status_code == 200
        async for chunk in resp.aiter_bytes():
            got += chunk
            if b"\nid: 3\n" in got or got.startswith(b"id: 3\n"):
                opened.set()
    return got


async def test_edge_sigterm_sends_retry_and_closes_every_stream(stack: Stack) -> None:
    stack.settings = stack.settings_with(edge_drain_retry_ms=RETRY_MS)
    await stack.worker()  # its drain is the suite's short one: these responses never end
    edge = await stack.edge()
    async with client_for(edge.url) as client:
        rids = [await create_demo(client, tokens=400, rate=20, prompt=f"p{i}") for i in range(4)]
        opened = {rid: asyncio.Event() for rid in rids}
        readers = [asyncio.create_task(raw_stream(client, rid, opened[rid])) for rid in rids]
        async with asyncio.timeout(30):
            await asyncio.gather(*(o.wait() for o in opened.values()))
        edge.popen.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        health = []
        async with httpx.AsyncClient(
            timeout=2.0, limits=httpx.Limits(max_keepalive_connections=0)
        ) as probe:
            while True:
                try:
                    health.append((await probe.get(f"{edge.url}/healthz")).status_code)
                except httpx.TransportError:
                    break  # the listener is closed: no new connection is accepted
                assert time.monotonic() - signalled < EDGE_EXIT_S
        async with asyncio.timeout(EDGE_EXIT_S):
            bodies = await asyncio.gather(*readers)
        closed_in = time.monotonic() - signalled
        await wait_exit(edge, EDGE_EXIT_S)
    assert 200 not in health, health
    assert closed_in < 10.0, f"streams closed {closed_in:.1f} s after SIGTERM"
    hints = set()
    for rid, body in zip(rids, bodies, strict=True):
        frames, _, tail = body.rpartition(b"retry: ")
        found = re.fullmatch(rb"(\d+)\n\n", tail)
        assert found, f"{rid}: the stream does not end with a retry hint: {body[-200:]!r}"
        hints.add(int(found[1]))
        assert RETRY_MS <= int(found[1]) <= 2 * RETRY_MS
        assert FRAME.fullmatch(frames), f"{rid}: not whole frames before the hint"
        assert b"event: done" not in frames and b"event: error" not in frames
    print(f"streams closed {closed_in:.2f} s after SIGTERM; hints {sorted(hints)} ms")


async def test_healthz_is_503_once_the_edge_drains(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
            async with asyncio.timeout(30):
                while (await client.get("/healthz")).status_code != 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            close_streams(app)  # what the server's SIGTERM handler calls
            await asyncio.sleep(0)  # it lands on the loop's next turn
            answer = await client.get("/healthz")
            assert answer.status_code == 503 and answer.json() == {"live": False}


async def test_worker_sigterm_lets_its_responses_finish(stack: Stack) -> None:
    stack.settings = stack.settings_with(worker_drain_s=DRAIN_S)
    worker = await stack.worker()
    edge = await stack.edge()
    async with client_for(edge.url) as client:
        # About 6 s each at 10 tokens/s: still generating when the signal comes.
        rids = [await create_demo(client, tokens=60, rate=10, prompt=f"p{i}") for i in range(3)]
        readers = [asyncio.create_task(read_all(client, rid, timeout_s=90)) for rid in rids]
        for rid in rids:
            await wait_known(client, rid)
        worker.popen.send_signal(signal.SIGTERM)
        # Taken by no one until the next worker: the draining one takes nothing new.
        late = await create_demo(client, tokens=5, rate=50, prompt="late")
        late_reader = asyncio.create_task(read_all(client, late, wait_known_s=60, timeout_s=90))
        snapshots = [(await client.get(f"/v1/responses/{rid}")).json() for rid in rids]
        took = await wait_exit(worker, DRAIN_S + 15)
        await stack.worker()
        reads = await asyncio.gather(*readers)
        late_read = await late_reader

    for rid, snap, got in zip(rids, snapshots, reads, strict=True):
        assert snap["status"] == "in_progress", f"{rid} was not mid-generation: {snap}"
        assert_contiguous(got.events, terminal="done")
    assert_contiguous(late_read.events, terminal="done")
    assert "drained: every running response ended" in worker.text(), worker.tail()
    assert 2.0 < took < DRAIN_S, f"the worker took {took:.1f} s to stop"

    # The log as an audit consumer sees it: one writer per response, nothing written twice.
    def complete(records: list) -> bool:  # type: ignore[type-arg]
        return sum(1 for r in records if b'"done"' in r.value) >= len(rids) + 1

    records = await read_topic(
        stack.settings, stack.settings.events_topic, until=complete, timeout_s=20
    )
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in records:
        seqs[r.key.decode()].append(orjson.loads(r.value)["seq"])
        assert b'"error"' not in r.value, r.value
    for rid in [*rids, late]:
        assert seqs[rid] == list(range(1, len(seqs[rid]) + 1)), f"{rid}: {seqs[rid]}"
