"""The response cache on real Kafka, worker and edge processes, on SQLite and PostgreSQL, with
the fake OpenAI upstream (which records every request it gets): a `"cache": true` request is
answered from storage once an identical one finished `done` (same text, marked `cached` in the
POST's answer, the snapshot and the index, its own views, no second model call); a different
parameter, `cache: false`, an answer past the TTL and an answer that ended in error all run the
model.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from app import consumers
from app.contract import index
from app.storage.records import StoredResponse
from app.storage.store import Store
from tests.fakes.upstream import FakeUpstream

from .conftest import on_database
from .procs import Edge, Stack, up
from .sse import client_for, delta_text, read_all

pytestmark = pytest.mark.integration


@pytest.fixture
async def cache_stack(
    stack: Stack, database_url: str, fake: FakeUpstream
) -> AsyncIterator[tuple[Stack, Edge, Store]]:
    async with on_database(
        stack, database_url, openai_base_url=f"{fake.url}/v1", openai_api_key="sk-test"
    ) as store:
        edge = await up(stack)
        yield stack, edge, store


async def stored(store: Store, rid: str, timeout_s: float = 30.0) -> StoredResponse:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await store.get(rid)
        if got is not None:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"{rid} was not stored within {timeout_s} s")


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/responses", json=body)
    assert resp.status_code == 201, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def asked(fake: FakeUpstream, prompt: str) -> int:
    """How many requests the model server received for `prompt`."""
    return len(fake.find(lambda s: s.prompt == prompt))


async def open_record(stack: Stack, rid: str) -> index.IndexRecord:
    consumer = AIOKafkaConsumer(
        stack.settings.responses_topic, bootstrap_servers=stack.settings.kafka,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumers.start(consumer)
    try:
        async with asyncio.timeout(20):
            async for record in consumer:
                if record.key == rid.encode():
                    got = index.decode(record.value)
                    if got.state == index.OPEN:
                        return got
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")


async def test_hits_and_misses(cache_stack: tuple[Stack, Edge, Store], fake: FakeUpstream) -> None:
    stack, edge, store = cache_stack
    prompt = f"echo:A cached answer. It has two sentences {secrets.token_hex(4)}."
    body = {
        "model": "openai/text",
        "messages": [{"role": "user", "content": prompt}],
        "params": {"max_tokens": 32},
        "cache": True,
    }
    async with client_for(edge.url) as c:
        # Nothing stored yet: the model runs, and its answer becomes cacheable once stored.
        first = await post(c, body)
        assert first["cached"] is False and "cached_from" not in first
        original = await read_all(c, first["id"], timeout_s=30)
        text = delta_text(original.events)
        assert text == prompt[5:] and original.events[-1].type == "done"
        row = await stored(store, first["id"])
        assert row.status == "done" and row.cached_from is None
        assert asked(fake, prompt) == 1

        # Identical (views aside: they never change the text, and the copy makes its own).
        hit = await post(c, {**body, "views": ["sentences"]})
        assert hit["cached"] is True and hit["cached_from"] == first["id"], hit
        assert hit["id"] != first["id"]
        copy = await read_all(c, hit["id"], timeout_s=30)
        assert delta_text(copy.events) == text
        assert [e.seq for e in copy.events] == list(range(1, len(copy.events) + 1))
        assert [e.type for e in copy.events[-2:]] == ["source.done", "done"]
        assert copy.events[-2].data.get("usage") is None  # no tokens were spent
        sentences = await read_all(c, hit["id"], view="sentences", timeout_s=30)
        assert "".join(e.text for e in sentences.events if e.type == "sentence") == text
        snap = (await c.get(f"/v1/responses/{hit['id']}")).json()
        assert snap["cached"] is True and snap["cached_from"] == first["id"]
        assert snap["sources"] == {"answer": text} and snap["status"] == "done"
        assert "cached" not in (await c.get(f"/v1/responses/{first['id']}")).json()
        record = await open_record(stack, hit["id"])
        assert record.cached_from == first["id"]
        # Stored like any response, marked, and never itself a cache source.
        assert (await stored(store, hit["id"])).cached_from == first["id"]

        # The recorded pace: the same text, from the same original.
        paced = await post(c, {**body, "cache": {"pace": "recorded"}})
        assert paced["cached_from"] == first["id"]
        assert delta_text((await read_all(c, paced["id"], timeout_s=30)).events) == text
        assert asked(fake, prompt) == 1  # the model was called once in all

        # A different parameter, and cache:false, run the model.
        other = await post(c, {**body, "params": {"max_tokens": 33}})
        assert other["cached"] is False
        await read_all(c, other["id"], timeout_s=30)
        assert asked(fake, prompt) == 2
        off = await post(c, {**body, "cache": False})
        assert "cached" not in off
        await read_all(c, off["id"], timeout_s=30)
        assert asked(fake, prompt) == 3

        # Validation.
        for bad in ("yes", {"pace": "slow"}, {"tempo": "full"}):
            resp = await c.post("/v1/responses", json={**body, "cache": bad})
            assert resp.status_code == 400, resp.text
        metrics = (await c.get("/metrics")).text
        assert "tokenrelay_edge_cache_hits_total 2.0" in metrics
        assert "tokenrelay_edge_cache_misses_total 2.0" in metrics

    # Past the TTL: an edge whose TTL the newest answer's end is older than (the cache:false
    # run's: it ran the model, so it answers this hash too).
    newest = await stored(store, off["id"])
    short = await stack.edge(cache_ttl_s=1)
    await asyncio.sleep(max(0.0, newest.finished_ms / 1000 + 1.5 - time.time()))  # type: ignore[operator]
    async with client_for(short.url) as c:
        late = await post(c, body)
        assert late["cached"] is False
        await read_all(c, late["id"], timeout_s=30)
    assert asked(fake, prompt) == 4


async def test_an_error_is_never_served(
    cache_stack: tuple[Stack, Edge, Store], fake: FakeUpstream
) -> None:
    _, edge, store = cache_stack
    prompt = f"Fail me {secrets.token_hex(4)}"
    body = {"model": "openai/error-mid", "messages": [{"role": "user", "content": prompt}],
            "cache": True}  # fmt: skip
    async with client_for(edge.url) as c:
        first = await post(c, body)
        got = await read_all(c, first["id"], timeout_s=30)
        assert got.events[-1].type == "error"
        assert (await stored(store, first["id"])).status == "error"
        again = await post(c, body)
        assert again["cached"] is False
        assert (await read_all(c, again["id"], timeout_s=30)).events[-1].type == "error"
    assert asked(fake, prompt) == 2
