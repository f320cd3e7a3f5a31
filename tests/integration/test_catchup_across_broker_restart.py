"""A catch-up read used to end in an ASGI traceback when Kafka failed under it. Now a fault in
the middle of a catch-up read ends the SSE stream cleanly and the client resumes: here the
broker is restarted while a client is half-way through a replay, and the client, reconnecting
like EventSource, ends up with every event exactly once.

This test runs its own broker (infra/kafka/broker.sh on its own ports and data dir): restarting
the session's broker would disturb every other test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.producer import Publisher
from app.topics import ensure_topics
from tests.conftest import BROKER_START_TIMEOUT_S, BROKER_STOP_TIMEOUT_S, Broker, free_port

from .conftest import make_settings
from .procs import Stack
from .sse import (
    TERMINAL,
    SseRead,
    _event,
    assert_contiguous,
    client_for,
    delta_text,
    events_url,
    read_events,
)
from .writes import text

pytestmark = pytest.mark.integration

DELTAS = 12_000
SIZE = 1000  # ~12 MB of SSE: more than the client's and the edge's socket buffers hold
READ_BEFORE_STOP = 40
FAULTS = "tokenrelay_edge_catchup_faults_total"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    port, controller_port = free_port(), free_port()
    data_dir = tmp_path / "broker"
    env = {
        **os.environ,
        "TOKENRELAY_BROKER_PORT": str(port),
        "TOKENRELAY_BROKER_CONTROLLER_PORT": str(controller_port),
        "TOKENRELAY_BROKER_DIR": str(data_dir),
    }
    broker = Broker(f"127.0.0.1:{port}", port, controller_port, data_dir, env)
    run(broker, "start")
    try:
        yield broker
    finally:
        broker.script("stop", timeout=BROKER_STOP_TIMEOUT_S)


def run(broker: Broker, command: str) -> None:
    done = broker.script(command, timeout=BROKER_START_TIMEOUT_S)
    assert done.returncode == 0, f"broker.sh {command}: {done.stdout}\n{done.stderr}"


async def read_on(lines: AsyncIterator[str], out: SseRead, limit: int | None) -> str:
    """Parse SSE events from `lines` into `out` until `limit` more, the terminal, or the end."""
    fields: dict[str, list[str]] = {}
    want = None if limit is None else len(out.events) + limit
    try:
        async for line in lines:
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
                continue
            event = _event(fields) if fields else None
            fields = {}
            if event is not None:
                out.events.append(event)
                if event.type in TERMINAL:
                    return "terminal"
                if want is not None and len(out.events) >= want:
                    return "limit"
    except httpx.TransportError:
        return "broken"
    return "eof"


async def faults(client: httpx.AsyncClient) -> float:
    lines = (await client.get("/metrics")).text.splitlines()
    return sum(float(x.split()[1]) for x in lines if x.startswith(FAULTS + " "))


async def test_catchup_read_interrupted_by_broker_restart_resumes(
    own_broker: Broker, tmp_path: Path
) -> None:
    settings = dataclasses.replace(make_settings(own_broker.bootstrap, tmp_path), partitions=1)
    stack = Stack(settings, tmp_path)
    try:
        await ensure_topics(settings)  # before any write: no auto-created topic
        async with Publisher(settings) as pub:
            writer = pub.response()
            await writer.open()
            for i in range(1, DELTAS + 1):
                await writer.delta(text(i, SIZE))
                if i % 20 == 0:
                    await writer.flush()  # ~20 KB events (the writer coalesces what waits)
            await writer.source_done()
            await writer.done()
        # An edge that never saw it live: the whole read is a catch-up read.
        edge = await stack.edge(edge_send_timeout_s=300.0)
        got = SseRead(200, httpx.Headers())
        async with client_for(edge.url) as client:
            async with client.stream("GET", events_url(writer.rid)) as resp:
                assert resp.status_code == 200
                lines = resp.aiter_lines()
                assert await read_on(lines, got, READ_BEFORE_STOP) == "limit"
                # The client pauses mid-replay; the broker goes down under the edge's read.
                await asyncio.to_thread(run, own_broker, "stop")
                ended = await read_on(lines, got, None)
            assert ended != "terminal", "the replay must meet the broker's absence"
            assert await faults(client) >= 1
            starting = asyncio.create_task(asyncio.to_thread(run, own_broker, "start"))
            reconnects = 0
            async with asyncio.timeout(180):
                while not got.events or got.events[-1].type not in TERMINAL:
                    cursor = got.events[-1].seq
                    try:
                        more = await read_events(client, writer.rid, last_event_id=cursor)
                    except httpx.TransportError:
                        more = SseRead(0, httpx.Headers())
                    assert more.status in (0, 200, 503), (more.status, more.body[:300])
                    got.events.extend(more.events)
                    reconnects += 1
                    if more.status != 200:
                        await asyncio.sleep(0.5)  # 503 while Kafka is down: clean, retriable
            await starting
        assert_contiguous(got.events)
        assert delta_text(got.events) == "".join(text(i, SIZE) for i in range(1, DELTAS + 1))
        assert reconnects >= 1
        log = edge.text()
        for bad in ("Exception in ASGI application", "returned without", "500 Internal"):
            assert bad not in log, log[-3000:]
        assert edge.alive
    except BaseException:
        print(stack.report())
        raise
    finally:
        stack.close()
