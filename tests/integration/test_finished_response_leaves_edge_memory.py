"""A finished response's state used to stay in the edge forever (every response ever seen was
held, and a starting edge preloaded them). Now it leaves memory `edge_finished_keep_s` after its
terminal event, into a bounded directory, and is still served from there."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from app.producer import Publisher

from .procs import Stack
from .sse import assert_contiguous, client_for, delta_text, read_all, read_events, snapshot
from .test_errors import assert_read_error
from .writes import deltas, expected_text

pytestmark = pytest.mark.integration

TRACKED = "tokenrelay_edge_tracked_responses"
RESPONSES = 3


async def gauge(client: httpx.AsyncClient, name: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


async def test_finished_response_state_leaves_the_edge(stack: Stack) -> None:
    edge = await stack.edge(edge_finished_keep_s=0.5)
    async with Publisher(stack.settings) as pub, client_for(edge.url) as client:
        writers = [pub.response() for _ in range(RESPONSES)]
        for writer in writers:
            await writer.open()
        readers = [asyncio.create_task(read_all(client, w.rid)) for w in writers]
        for writer in writers:
            await deltas(writer, 1, 20)
        # Held while in progress (checked before the end: after it, how long the edge holds
        # them is `edge_finished_keep_s`, shorter than a loaded machine may take to look).
        deadline = time.monotonic() + 10
        while await gauge(client, TRACKED) < RESPONSES:
            assert time.monotonic() < deadline, "in-progress responses are not tracked"
            await asyncio.sleep(0.05)
        for writer in writers:
            await writer.source_done()
            await writer.done()
        reads = await asyncio.gather(*readers)
        deadline = time.monotonic() + 10
        while await gauge(client, TRACKED) > 0:
            assert time.monotonic() < deadline, "finished responses stayed in the edge's memory"
            await asyncio.sleep(0.2)
        assert await gauge(client, "tokenrelay_edge_directory_entries") == RESPONSES
        for writer, live in zip(writers, reads, strict=True):
            assert_contiguous(live.events)
            again = await read_all(client, writer.rid, timeout_s=15)
            assert again.events == live.events
            snap = await snapshot(client, writer.rid)
            assert snap["status"] == "done" and snap["last_seq"] == live.events[-1].seq
            assert snap["sources"]["answer"] == expected_text(1, 20) == delta_text(live.events)
            last = live.events[-1].seq
            assert (await read_events(client, writer.rid, after=last)).status == 204
            beyond = await read_events(client, writer.rid, after=last + 5)
            assert_read_error(beyond, 400, "cursor_beyond_end")
        # Reading them again put nothing back into memory for good.
        deadline = time.monotonic() + 10
        while await gauge(client, TRACKED) > 0:
            assert time.monotonic() < deadline, "served responses stayed in the edge's memory"
            await asyncio.sleep(0.2)
