"""The worker's Prometheus endpoint on a real worker: after a demo response and a cancelled one,
it reports them by terminal type, their time to first token and text pieces, what the persist
agent stored, the watchdog's counts and the process's own metrics."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .procs import Stack, free_port
from .sse import client_for, create_demo, read_events

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_worker_metrics(stack: Stack) -> None:
    port = free_port()
    await stack.worker(worker_metrics_port=port)
    edge = await stack.edge()
    async with client_for(edge.url) as c:
        rid = await create_demo(c, tokens=20, rate=400)
        assert (await read_events(c, rid)).events[-1].type == "done"
        slow = await create_demo(c, tokens=400, rate=5)
        await read_events(c, slow, limit=1)  # its first token is written: a TTFT to count
        await c.post(f"/v1/responses/{slow}/cancel")
        assert (await read_events(c, slow)).events[-1].type == "cancelled"
    url = f"http://127.0.0.1:{port}/metrics"
    async with httpx.AsyncClient() as scrape, asyncio.timeout(60):
        while True:  # the persist agent stores the two a little after they end
            got = samples((await scrape.get(url)).text)
            if got.get(("tokenrelay_worker_persist_total", (("what", "stored"),)), 0) >= 2:
                break
            await asyncio.sleep(0.3)
    ended = "tokenrelay_worker_responses_ended_total"
    assert got[(ended, (("code", ""), ("type", "done")))] >= 1
    assert got[(ended, (("code", ""), ("type", "cancelled")))] >= 1
    assert got[("tokenrelay_worker_first_token_seconds_count", ())] >= 2
    assert got[("tokenrelay_worker_text_pieces_total", ())] >= 20
    assert got[("tokenrelay_worker_responses_running", ())] == 0
    assert got[("process_cpu_seconds_total", ())] > 0
    assert any(name == "python_gc_collections_total" for name, _ in got)
