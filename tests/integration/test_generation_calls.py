"""Several model calls in one response, and cancellation, end to end: a worker calling local fake
upstreams (and the demo model), its tokens through Kafka, read as SSE.

Calls run in parallel and interleave; each ends with its `source.done`, the response with one
`done`, or with the first failing call's `error` (the others are stopped). A cancel reaches the
worker through <prefix>.control: `cancelled` within 500 ms, the upstream request closed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from agents.models import demo
from tests.fakes import wire
from tests.fakes.upstream import FakeUpstream

from .kafkautil import read_topic
from .procs import Stack
from .sse import (
    SseEvent,
    SseRead,
    assert_contiguous,
    create,
    delta_text,
    final_snapshot,
    read_all,
    read_events,
)

pytestmark = pytest.mark.integration

CANCEL_RUNS = 5
CANCEL_BUDGET_S = 0.5


@pytest.fixture(scope="module")
def gen_settings(fake: FakeUpstream) -> dict[str, Any]:
    """The fake upstreams without keys, and more calls per response than the default."""
    return {
        "openai_base_url": f"{fake.url}/v1",
        "anthropic_base_url": fake.url,
        "generation_max_calls": 5,
    }


async def demo_text(prompt: str, tokens: int) -> str:
    return "".join([t async for t in demo.generate(prompt, tokens=tokens, rate=0)])


def sources_of(events: list[SseEvent]) -> list[str]:
    return [e.data["source"] for e in events if e.type == "source.done"]


async def test_two_parallel_calls(client: httpx.AsyncClient) -> None:
    calls = [
        {"source": "answer", "model": "openai/text", "input": "echo:Die Antwort: schön."},
        {"source": "tool:search", "model": "demo", "input": "kafka", "params": {"tokens": 30}},
    ]
    rid = await create(client, {"calls": calls})
    got = await read_all(client, rid, wait_known_s=10, timeout_s=30)
    assert_contiguous(got.events)
    assert delta_text(got.events, "answer") == "Die Antwort: schön."
    assert delta_text(got.events, "tool:search") == await demo_text("kafka", 30)
    assert sorted(sources_of(got.events)) == ["answer", "tool:search"]
    for source in ("answer", "tool:search"):  # nothing of a source after its source.done
        mine = [e.type for e in got.events if e.data["source"] == source and e.type != "done"]
        assert mine[-1] == "source.done" and mine.count("source.done") == 1


async def test_five_parallel_calls_interleave(client: httpx.AsyncClient) -> None:
    calls = [
        {"source": "answer", "model": "openai/text", "input": "hi"},
        {"source": "critic", "model": "anthropic/text", "input": "hi"},
        *(
            {
                "source": f"tool:{i}",
                "model": "demo",
                "input": f"topic {i}",
                "params": {"tokens": 40, "rate": 100},
            }
            for i in range(3)
        ),
    ]
    rid = await create(client, {"calls": calls})
    got = await read_all(client, rid, wait_known_s=10, timeout_s=30)
    assert_contiguous(got.events)
    assert delta_text(got.events, "answer") == wire.TEXT
    assert delta_text(got.events, "critic") == wire.TEXT
    for i in range(3):
        assert delta_text(got.events, f"tool:{i}") == await demo_text(f"topic {i}", 40)
    assert sorted(sources_of(got.events)) == sorted(c["source"] for c in calls)
    # Interleaved as tokens come, not one call after another.
    order = [e.data["source"] for e in got.events if e.type == "delta"]
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches > 10, f"sources did not interleave: {switches} switches"


async def test_first_failing_call_ends_the_response(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    tag = f"policy {time.monotonic()}"
    calls = [
        {"source": "answer", "model": "openai/slow", "input": tag},
        {"source": "quick", "model": "demo", "input": "x", "params": {"tokens": 3, "rate": 0}},
        {"source": "tool:broken", "model": "anthropic/http529", "input": tag},
    ]
    rid = await create(client, {"calls": calls})
    got = await read_all(client, rid, wait_known_s=10, timeout_s=30)
    assert_contiguous(got.events, terminal="error")
    error = got.events[-1].data
    assert (error["source"], error["code"], error["retriable"], error["status"]) == (
        "tool:broken",
        "upstream_unavailable",
        True,
        529,
    )
    assert "answer" not in sources_of(got.events)
    (slow,) = fake.find(lambda s: s.prompt == tag and s.scenario == "slow")
    assert slow.closed.wait(5), "the still-running sibling's upstream request was not closed"


async def test_too_many_calls_are_413(client: httpx.AsyncClient) -> None:
    body = {"calls": [{"source": f"s{i}", "model": "demo", "input": "x"} for i in range(6)]}
    resp = await client.post("/v1/responses", json=body)
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "too_many_calls"
    assert "at most 5 calls" in resp.json()["error"]["message"]
    ok = await client.post("/v1/responses", json={**body, "calls": body["calls"][:5]})
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    "body",
    [
        {"calls": [{"source": "a", "model": "demo", "input": "x"}] * 2},
        {"calls": [{"source": "a b", "model": "demo", "input": "x"}]},
        {"calls": [{"source": "a", "model": "mistral/large", "input": "x"}]},
        {"calls": [{"source": "a", "model": "demo"}]},
        {"calls": []},
    ],
)
async def test_invalid_calls_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    resp = await client.post("/v1/responses", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "bad_request"


async def cancel_once(client: httpx.AsyncClient, fake: FakeUpstream, tag: str) -> dict[str, Any]:
    """Start a long answer, cancel it after some text; returns what was measured."""
    calls = [
        {"source": "answer", "model": "openai/slow", "input": tag},
        {"source": "second", "model": "anthropic/slow", "input": tag},
    ]
    rid = await create(client, {"calls": calls})
    got = SseRead(0, httpx.Headers())
    arrived: dict[str, float] = {}
    some_text = asyncio.Event()

    async def follow() -> None:
        async for event in _events(client, rid, got):
            if len(got.events) >= 20:
                some_text.set()
            if event.type == "cancelled":
                arrived["cancelled"] = time.monotonic()

    reader = asyncio.create_task(follow())
    async with asyncio.timeout(20):
        await some_text.wait()
    started = time.monotonic()
    resp = await client.post(f"/v1/responses/{rid}/cancel")
    answered = time.monotonic()
    async with asyncio.timeout(20):
        await reader
    ups = fake.find(lambda s: s.prompt == tag)
    assert len(ups) == 2 and all(s.closed.wait(5) for s in ups), "upstream not closed"
    return {
        "rid": rid,
        "read": got,
        "post": resp,
        "post_s": answered - started,
        "event_s": arrived["cancelled"] - started,
        "closed_s": max((s.closed_at or 0.0) - started for s in ups),
        "pieces_sent": sum(s.pieces_sent for s in ups),
    }


async def _events(client: httpx.AsyncClient, rid: str, into: SseRead) -> AsyncIterator[SseEvent]:
    """Events as they arrive (read_events only returns at the end)."""
    seen = 0
    task = asyncio.create_task(read_events(client, rid, into=into, timeout_s=60))
    while not task.done() or seen < len(into.events):
        while seen < len(into.events):
            seen += 1
            yield into.events[seen - 1]
        await asyncio.sleep(0.002)
    await task


async def test_cancel_mid_stream(
    client: httpx.AsyncClient, fake: FakeUpstream, gen_stack: Stack
) -> None:
    runs = [
        await cancel_once(client, fake, f"cancel {i} {time.monotonic()}")
        for i in range(CANCEL_RUNS)
    ]
    event_ms = [round(r["event_s"] * 1000) for r in runs]
    closed_ms = [round(r["closed_s"] * 1000) for r in runs]
    print(
        f"\ncancel: POST -> `cancelled` event ms {event_ms}; POST -> upstream closed ms {closed_ms}"
    )
    for run in runs:
        assert run["post"].status_code == 202, run["post"].text
        assert run["post"].json() == {"id": run["rid"], "status": "cancelling", "cancelled": True}
        events = run["read"].events
        assert_contiguous(events, terminal="cancelled")
        # What was said before the cancel stays, in order and whole, per source.
        for source in ("answer", "second"):
            words = delta_text(events, source).split()
            assert words == [f"w{i}" for i in range(len(words))]
    # The budget; the median of several runs keeps one scheduling hiccup on a shared
    # 2-core machine from failing it, while every run must still be well within 2x.
    assert statistics.median(event_ms) < CANCEL_BUDGET_S * 1000, event_ms
    assert statistics.median(closed_ms) < CANCEL_BUDGET_S * 1000, closed_ms
    assert max(event_ms) < 2 * CANCEL_BUDGET_S * 1000, event_ms

    last = runs[-1]
    rid, events = last["rid"], last["read"].events
    snap = await final_snapshot(client, rid, events[-1].seq)
    assert snap["status"] == "cancelled"
    assert snap["sources"]["answer"] == delta_text(events, "answer")
    # A second cancel answers clearly and changes nothing.
    again = await client.post(f"/v1/responses/{rid}/cancel")
    assert again.status_code == 200, again.text
    assert again.json() == {"id": rid, "status": "cancelled", "cancelled": False}
    await asyncio.sleep(0.5)
    assert (await read_all(client, rid, timeout_s=10)).events == events
    # No token was published after the cancel: in <prefix>.events, `cancelled` is the last write.
    settings = gen_stack.settings

    def has_terminal(records: list[Any]) -> bool:
        return any(r.key == rid.encode() and b'"cancelled"' in r.value for r in records)

    records = await read_topic(settings, settings.events_topic, until=has_terminal, timeout_s=20)
    mine = [orjson.loads(r.value)["type"] for r in records if r.key == rid.encode()]
    assert mine[-1] == "cancelled" and mine.count("cancelled") == 1, mine[-5:]


async def test_cancel_after_the_end_changes_nothing(client: httpx.AsyncClient) -> None:
    rid = await create(client, {"model": "openai/text", "input": "hi"})
    whole = await read_all(client, rid, wait_known_s=10, timeout_s=30)
    await final_snapshot(client, rid, whole.events[-1].seq)
    resp = await client.post(f"/v1/responses/{rid}/cancel")
    assert resp.status_code == 200
    assert resp.json() == {"id": rid, "status": "done", "cancelled": False}
    await asyncio.sleep(0.5)
    assert (await read_all(client, rid)).events == whole.events


async def test_a_reader_leaving_never_cancels(client: httpx.AsyncClient) -> None:
    rid = await create(client, {"model": "openai/text", "input": "hi"})
    first = await read_events(client, rid, limit=3, timeout_s=20)  # then the client goes away
    assert first.ended == "limit"
    whole = await read_all(client, rid, wait_known_s=10, timeout_s=30)
    assert_contiguous(whole.events)
    assert delta_text(whole.events) == wire.TEXT
