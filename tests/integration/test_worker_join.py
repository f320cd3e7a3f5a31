"""A worker joining the group under load runs no request twice.

Faust commits a worker's request offsets on an interval, so a worker joining is given again the
requests its partitions' previous owner took in its last commit interval. With a model whose
first token takes seconds, those have nothing in the events log yet when the joiner looks, and
each ran a second time: two model calls, every seq written twice, two answers spliced by the
readers' rule. The first worker now says in the index that it took a request (a `beat` before
its first event) and the joiner leaves such a request alone (agents/generation.py).

Requests arrive every 20 ms, each with a 3 s first token, while a second worker joins (and a
third, if the second met no such request: a join catches about three). Then: every reader got
1..N then `done`, each seq is once in the log, and a joiner's log shows it met at least one
such request (so the test did cover the window). Without the marker, three responses of a run
were written twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
import pytest

from .kafkautil import Record, read_topic
from .procs import Stack
from .sse import assert_contiguous, client_for, create, read_all

pytestmark = pytest.mark.integration

FIRST_TOKEN_MS = 3000
EVERY_S = 0.02
JOINS = 3  # at most: until a joiner meets a request taken by another worker
LEFT = "is being written elsewhere; leaving it"


async def test_a_joining_worker_runs_no_request_twice(stack: Stack) -> None:
    await stack.worker()
    edge = await stack.edge()
    body = {
        "model": "demo",
        "input": "Explain Kafka consumer groups.",
        "params": {"tokens": 10, "rate": 50, "first_token_ms": FIRST_TOKEN_MS},
    }
    rids: list[str] = []
    async with client_for(edge.url) as client:
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                rids.append(await create(client, body))
                await asyncio.sleep(EVERY_S)

        loader = asyncio.create_task(load())
        await asyncio.sleep(1.0)
        joiners = []
        for _ in range(JOINS):
            joiners.append(await stack.worker(log_level="INFO"))  # ready: it has partitions
            await asyncio.sleep(2.0)
            if any(LEFT in j.text() for j in joiners):
                break
        stop.set()
        await loader
        reads = await asyncio.gather(*(read_all(client, rid, timeout_s=60) for rid in rids))

    for got in reads:
        assert_contiguous(got.events, terminal="done")

    def complete(records: list[Record]) -> bool:
        return sum(1 for r in records if b'"done"' in r.value) >= len(rids)

    settings = stack.settings
    records = await read_topic(settings, settings.events_topic, until=complete, timeout_s=20)
    written = Counter((r.key.decode(), orjson.loads(r.value)["seq"]) for r in records)
    twice = sorted(key for key, n in written.items() if n > 1)
    assert not twice, f"{len(twice)} (response, seq) written more than once: {twice[:10]}"
    left = sum(j.text().count(LEFT) for j in joiners)
    assert left >= 1, "no request was given again to a joining worker: the window was missed"
    print(f"\n{len(rids)} responses, {len(joiners)} joins; {left} requests left to their taker")
