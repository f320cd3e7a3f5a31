"""Cancel: the stream ends with `cancelled`, cancelling again changes nothing."""

from __future__ import annotations

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
)

pytestmark = pytest.mark.integration


async def test_cancel_ends_stream_with_cancelled(stack: Stack) -> None:
    edge = await up(stack)
    async with client_for(edge.url) as client:
        rid = await create_demo(client, tokens=5000, rate=200)  # ~25 s if left alone
        first = await read_events(client, rid, limit=50)
        assert first.status == 200 and first.seqs == list(range(1, 51))
        resp = await client.post(f"/v1/responses/{rid}/cancel")
        assert 200 <= resp.status_code < 300, resp.text
        whole = await read_all(client, rid, timeout_s=30)
        assert_contiguous(whole.events, terminal="cancelled")
        assert whole.events[:50] == first.events
        assert sum(1 for e in whole.events if e.type == "delta") < 4000
        again = await client.post(f"/v1/responses/{rid}/cancel")
        assert 200 <= again.status_code < 300, again.text
        snap = await final_snapshot(client, rid, whole.events[-1].seq)
        assert snap["status"] == "cancelled"
        assert snap["last_seq"] == whole.events[-1].seq
        assert snap["sources"]["answer"] == delta_text(whole.events)
        # Idempotent: the second cancel added nothing after the terminal event.
        assert (await read_all(client, rid)).events == whole.events
