"""Resume after a drop: from the same edge, from another edge, and across an edge crash.

Each reads part of a demo response, drops, and resumes with `Last-Event-ID` or `?after=`;
the parts must join into seq 1..terminal exactly once, with the snapshot's text.
"""

from __future__ import annotations

import asyncio

import pytest

from .procs import Stack, up
from .sse import (
    assert_contiguous,
    client_for,
    create_demo,
    delta_text,
    final_snapshot,
    read_all,
    read_events,
    read_through_drops,
    snapshot,
)

pytestmark = pytest.mark.integration

# Under load the writer joins the tokens that arrive while a record is in flight into one
# delta, so 2,000 tokens can be well under 700 events (a drop there found the stream over):
# drop early, mid-generation whatever the coalescing.
DROP_AT = 200


async def test_resume_after_drop_by_header_and_by_query(stack: Stack) -> None:
    edge = await up(stack)
    async with client_for(edge.url) as client:
        rid = await create_demo(client, tokens=2000, rate=400)
        first = await read_events(client, rid, limit=DROP_AT)
        assert first.status == 200, first.body
        assert first.headers["content-type"].startswith("text/event-stream")
        assert first.headers["cache-control"] == "no-cache"
        assert first.headers["x-accel-buffering"] == "no"
        assert first.ended == "limit" and first.seqs == list(range(1, DROP_AT + 1))
        # 2,000 tokens at 400/s: the drop happens mid-generation, and must not cancel it.
        assert (await snapshot(client, rid))["status"] == "in_progress"

        by_header, by_query = await asyncio.gather(
            read_all(client, rid, last_event_id=DROP_AT), read_all(client, rid, after=DROP_AT)
        )
        for rest in (by_header, by_query):
            assert_contiguous(rest.events, first=DROP_AT + 1)
        assert by_header.events == by_query.events

        whole = first.events + by_header.events
        assert_contiguous(whole)
        snap = await final_snapshot(client, rid, whole[-1].seq)
    assert snap["status"] == "done"
    assert snap["last_seq"] == whole[-1].seq
    text = delta_text(whole)
    assert len(text) > 1000
    assert snap["sources"]["answer"] == text


async def test_resume_on_another_edge(stack: Stack) -> None:
    edge_a = await up(stack)
    edge_b = await stack.edge()
    async with client_for(edge_a.url) as a, client_for(edge_b.url) as b:
        rid = await create_demo(a, tokens=2000, rate=400)
        first = await read_events(a, rid, limit=DROP_AT)
        assert first.status == 200 and first.seqs == list(range(1, DROP_AT + 1))
        by_header, by_query = await asyncio.gather(
            read_all(b, rid, last_event_id=DROP_AT), read_all(b, rid, after=DROP_AT)
        )
        assert_contiguous(by_header.events, first=DROP_AT + 1)
        assert by_header.events == by_query.events
        whole = first.events + by_header.events
        assert_contiguous(whole)
        # Both edges serve the same bytes of history: edge A's full read equals edge B's.
        assert (await read_all(a, rid)).events == whole
        snap = await final_snapshot(b, rid, whole[-1].seq)
    assert snap["status"] == "done" and snap["last_seq"] == whole[-1].seq
    assert snap["sources"]["answer"] == delta_text(whole)


async def test_resume_after_edge_restart(stack: Stack) -> None:
    """SIGKILL the edge mid-stream, start a new one on the same port: one reader resumes from
    seq DROP_AT on purpose, another was reading live when the edge died and resumes like
    EventSource from whatever it had."""
    edge = await up(stack)
    async with client_for(edge.url) as client:
        # 2,000 tokens at 200/s (~10 s): generation outlasts the edge's restart.
        rid = await create_demo(client, tokens=2000, rate=200)
        first = await read_events(client, rid, limit=DROP_AT)
        assert first.status == 200 and first.seqs == list(range(1, DROP_AT + 1))
        live = asyncio.create_task(read_through_drops(client, rid, timeout_s=120))
        await asyncio.sleep(0.5)
        edge.kill()
        await stack.edge(port=edge.port)
        rest = await read_all(client, rid, last_event_id=DROP_AT)
        survivor = await live
        whole = first.events + rest.events
        assert_contiguous(whole)
        assert survivor.events == whole, (
            f"reader across the crash: {len(survivor.events)} events, "
            f"{survivor.reconnects} reconnects"
        )
        assert survivor.reconnects >= 1
        snap = await final_snapshot(client, rid, whole[-1].seq)
    assert snap["status"] == "done" and snap["last_seq"] == whole[-1].seq
    assert snap["sources"]["answer"] == delta_text(whole)
