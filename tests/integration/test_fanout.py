"""Fan-out: 50 concurrent readers of one response, some joining mid-stream, all receive the
same complete sequence."""

from __future__ import annotations

import asyncio

import pytest

from .procs import Stack, up
from .sse import assert_contiguous, client_for, create_demo, delta_text, final_snapshot, read_all

pytestmark = pytest.mark.integration

READERS = 50


async def test_fifty_readers_receive_identical_complete_sequences(stack: Stack) -> None:
    edge = await up(stack)
    async with client_for(edge.url, connections=READERS + 10) as client:
        rid = await create_demo(client, tokens=2000, rate=400)
        early = [asyncio.create_task(read_all(client, rid)) for _ in range(READERS // 2)]
        await asyncio.sleep(1.5)  # the rest join a live stream with history behind it
        late = [asyncio.create_task(read_all(client, rid)) for _ in range(READERS - len(early))]
        reads = await asyncio.gather(*early, *late)
        reference = reads[0].events
        assert_contiguous(reference)
        for i, got in enumerate(reads):
            diverge = next(
                (j for j, (x, y) in enumerate(zip(got.events, reference, strict=False)) if x != y),
                None,
            )
            assert got.events == reference, (
                f"reader {i}: {len(got.events)} events vs {len(reference)}, first difference "
                f"at index {diverge}"
            )
        snap = await final_snapshot(client, rid, reference[-1].seq)
    assert snap["status"] == "done" and snap["last_seq"] == reference[-1].seq
    assert snap["sources"]["answer"] == delta_text(reference)
    assert sum(1 for e in reference if e.type == "delta") > 500
