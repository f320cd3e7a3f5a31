"""A worker SIGKILLed mid-stream and replaced: every reader still gets seq 1..N exactly once.

The test itself publishes two responses with the producer SDK at a steady pace (text it can
check word by word), on two different partitions, and kills the worker a third of the way in.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import orjson
import pytest

from app.producer import Publisher, new_response_id
from app.settings import Settings

from .kafkautil import Record, partition_of, read_topic
from .procs import Proc, Stack
from .sse import SseRead, assert_contiguous, client_for, delta_text, read_all

pytestmark = pytest.mark.integration

DELTAS = 1500
KILL_AFTER = DELTAS // 3
PUBLISH_S = 6.0
READERS_PER_RESPONSE = 3


def rids_on_two_partitions(settings: Settings) -> tuple[str, str]:
    a = new_response_id()
    while True:
        b = new_response_id()
        if partition_of(a, settings.partitions) != partition_of(b, settings.partitions):
            return a, b


async def publish(pub: Publisher, rid: str, tag: str, passed: asyncio.Event) -> str:
    """DELTAS unique words over PUBLISH_S seconds; sets `passed` after KILL_AFTER of them."""
    w = pub.response(rid)
    await w.open()
    sent = []
    start = time.monotonic()
    for i in range(1, DELTAS + 1):
        text = f"{tag}{i:04d} "
        await w.delta(text)
        sent.append(text)
        if i == KILL_AFTER:
            await w.flush()
            passed.set()
        if i % 10 == 0:
            delay = start + i * PUBLISH_S / DELTAS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    await w.source_done()
    await w.done()
    return "".join(sent)


async def test_worker_sigkill_mid_stream(stack: Stack) -> None:
    settings = stack.settings
    worker = await stack.worker()
    edge = await stack.edge()
    rids = rids_on_two_partitions(settings)
    passed = {rid: asyncio.Event() for rid in rids}
    killed_at: dict[str, int] = {}
    replacement: list[Proc] = []

    async with Publisher(settings) as pub, client_for(edge.url) as client:
        publishers = [
            asyncio.create_task(publish(pub, rid, tag, passed[rid]))
            for rid, tag in zip(rids, ("a", "b"), strict=True)
        ]
        readers: dict[str, list[asyncio.Task[SseRead]]] = {
            rid: [
                asyncio.create_task(read_all(client, rid, wait_known_s=20, timeout_s=150))
                for _ in range(READERS_PER_RESPONSE)
            ]
            for rid in rids
        }

        async def kill_and_replace() -> None:
            async with asyncio.timeout(60):
                await asyncio.gather(*(p.wait() for p in passed.values()))
            # How far the snapshot had got when the worker died (mid-stream or not at all).
            for rid in rids:
                snap = (await client.get(f"/v1/responses/{rid}")).json()
                killed_at[rid] = snap.get("last_seq", -1)
            worker.kill()
            replacement.append(await stack.worker())

        await asyncio.gather(kill_and_replace(), *publishers)
        texts = dict(zip(rids, [p.result() for p in publishers], strict=True))
        reads = {rid: await asyncio.gather(*tasks) for rid, tasks in readers.items()}

    # The log itself, as an audit consumer reading committed records sees it: no seq twice.
    def complete(records: list[Record]) -> bool:
        return sum(1 for r in records if b'"done"' in r.value) >= len(rids)

    records = await read_topic(
        settings, settings.events_topic, until=complete, timeout_s=20, read_committed=True
    )
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in records:
        seqs[r.key.decode()].append(orjson.loads(r.value)["seq"])
    for rid in rids:
        assert seqs[rid] == list(range(1, len(seqs[rid]) + 1)), (
            f"{settings.events_topic} for {rid}: {len(seqs[rid])} records, "
            f"duplicated seqs {sorted({s for s in seqs[rid] if seqs[rid].count(s) > 1})[:20]}"
        )

    # Every reader got the log exactly: the writer coalesces deltas, so the log sets the count.
    assert not worker.alive and replacement and replacement[0].alive
    for rid in rids:
        total = len(seqs[rid])
        assert 0 < killed_at[rid] < total, f"kill was not mid-stream for {rid}: {killed_at}"
        for i, got in enumerate(reads[rid]):
            assert_contiguous(got.events)
            assert len(got.events) == total, f"{rid} reader {i}: {len(got.events)} of {total}"
            assert delta_text(got.events) == texts[rid], f"{rid} reader {i}: text differs"
            assert [e.type for e in got.events[-2:]] == ["source.done", "done"]
