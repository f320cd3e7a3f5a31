"""Catch-up reads used to hold a Kafka consumer each (a semaphore slot) for as long as their
client took to read, so 20 clients that stopped reading blocked every other resume. Now a read
borrows a pooled consumer for one chunk and gives it back before yielding to its client: with a
pool of 4, 20 stalled catch-up readers leave a 21st resume untouched."""

from __future__ import annotations

import asyncio
import socket

import pytest

from app.producer import Publisher
from app.topics import ensure_topics

from .procs import Stack
from .sse import assert_contiguous, client_for, read_all
from .test_slow_reader import stalled_reader
from .writes import text

pytestmark = pytest.mark.integration

STALLED = 20
DELTAS = 8000
SIZE = 1000  # ~8 MB of SSE: more than a stalled socket's buffers take


async def test_twenty_stalled_catchup_readers_do_not_block_a_resume(stack: Stack) -> None:
    await ensure_topics(stack.settings)  # before any write: no auto-created topic
    async with Publisher(stack.settings) as pub:
        writer = pub.response()
        await writer.open()
        for i in range(1, DELTAS + 1):
            await writer.delta(text(i, SIZE))
            if i % 20 == 0:
                await writer.flush()  # ~20 KB events (the writer coalesces what waits)
        await writer.source_done()
        await writer.done()
    # An edge that never saw it live: every read of it is a catch-up read from Kafka.
    edge = await stack.edge(edge_max_catchup_reads=4)
    stalled: list[socket.socket] = []
    try:
        async with client_for(edge.url) as client:
            whole = await read_all(client, writer.rid, timeout_s=60)
            assert_contiguous(whole.events)
            half = whole.events[len(whole.events) // 2].seq
            for _ in range(STALLED):
                stalled.append(await stalled_reader(edge.port, writer.rid))
            await asyncio.sleep(2.0)  # they fill their sockets and stall mid catch-up
            got = await read_all(client, writer.rid, after=half, timeout_s=20)
            assert got.events == whole.events[half:]
            metrics = (await client.get("/metrics")).text
            assert f"tokenrelay_edge_connections {float(STALLED)}" in metrics, (
                "the stalled readers must still be connected, mid catch-up"
            )
    finally:
        for sock in stalled:
            sock.close()
    assert "Traceback" not in edge.text()
