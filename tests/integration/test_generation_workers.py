"""Two workers share the requests; one is SIGKILLed mid-generation. Policy: a response whose
worker died is failed, not retried: the watchdog ends it with a retriable
`producer_lost` error once its producer has been silent TOKENRELAY_RESPONSE_IDLE_TIMEOUT_S, so
every reader gets a terminal event.

Which worker ran which response is read from <prefix>.tokens: the survivor's responses go on
being written after the kill, the dead worker's do not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import orjson
import pytest

from .kafkautil import read_topic
from .procs import Stack
from .sse import assert_contiguous, client_for, create_demo, read_all, wait_known

pytestmark = pytest.mark.integration

RESPONSES = 12
IDLE_TIMEOUT_S = 3.0


async def test_killing_a_worker_ends_its_responses(stack: Stack) -> None:
    stack.settings = dataclasses.replace(
        stack.settings, response_idle_timeout_s=IDLE_TIMEOUT_S, writer_beat_s=IDLE_TIMEOUT_S / 4
    )
    first = await stack.worker()
    await stack.worker()
    edge = await stack.edge()
    await asyncio.sleep(2 * stack.settings.worker_session_timeout_s)  # the group has settled
    async with client_for(edge.url) as client:
        rids = [
            await create_demo(client, tokens=200, rate=20, prompt=f"topic {i}")
            for i in range(RESPONSES)
        ]
        readers = [
            asyncio.create_task(read_all(client, rid, wait_known_s=10, timeout_s=90))
            for rid in rids
        ]
        for rid in rids:
            await wait_known(client, rid)
        await asyncio.sleep(2.0)  # generation is under way, and its requests are committed
        first.kill()
        killed_at, killed_wall_ms = time.monotonic(), time.time() * 1000
        reads = await asyncio.gather(*readers)
        took = time.monotonic() - killed_at

    outcomes = {}
    for rid, got in zip(rids, reads, strict=True):
        end = got.events[-1]
        assert_contiguous(got.events, terminal=end.type)
        outcomes[rid] = (end.type, end.data.get("code"), end.data.get("retriable"))
    assert set(outcomes.values()) <= {("done", None, None), ("error", "producer_lost", True)}

    settings = stack.settings
    records = await read_topic(settings, settings.events_topic, until=lambda r: False, timeout_s=5)
    # What the writers wrote after the kill (the watchdog's `producer_lost` is not a writer's).
    written_after_kill = {
        r.key.decode()
        for r in records
        if orjson.loads(r.value)["ts"] > killed_wall_ms + 1000
        and r.key.decode() in outcomes
        and orjson.loads(r.value).get("code") != "producer_lost"
    }
    survivor, dead = written_after_kill, set(rids) - written_after_kill
    assert survivor and dead, f"requests were not shared: {len(survivor)} kept going"
    for rid in dead:
        assert outcomes[rid] == ("error", "producer_lost", True), outcomes[rid]
    # The reaper must not mistake the rebalance's pause for silence of the live producers.
    for rid in survivor:
        assert outcomes[rid] == ("done", None, None), outcomes[rid]
    print(
        f"\nworker kill: {len(dead)} responses on the killed worker, {len(survivor)} on the other; "
        f"outcomes of the latter {sorted(outcomes[r] for r in survivor)}; all ended {took:.1f} s "
        "after the kill"
    )
