"""The Python client (app/client/) against real processes: a worker, an edge and Kafka. Sync
and async; through a proxy that cuts every connection (after some bytes, or some ms), where it
must still deliver every event exactly once, in order; views, multiplexed streams, cancel, and
the exceptions for 404 and 410.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.client import (
    AsyncClient,
    Backoff,
    Client,
    Event,
    NotRetained,
    UnknownResponse,
)
from app.producer import Publisher
from app.topics import ensure_topics

from .cutproxy import CuttingProxy
from .kafkautil import delete_all_records
from .procs import Edge, Stack
from .sse import client_for, final_snapshot, read_all

pytestmark = pytest.mark.integration

Shared = tuple[Stack, Edge]
# Resumes are the point here: start them at once, and let a cut connection retry many times.
QUICK = Backoff(attempts=20, base_s=0.02, cap_s=0.5)


def demo(tokens: int, rate: float, **extra: Any) -> dict[str, Any]:
    return {"model": "demo", "input": "Explain Kafka.", "params": {"tokens": tokens, "rate": rate},
            **extra}  # fmt: skip


def check_whole(events: list[Event], terminal: str = "done") -> str:
    """Every seq from 1 once, in order, one terminal event and it is last; the answer's text."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events if e.terminal] == [terminal]
    assert events[-1].type == terminal
    return "".join(e.text for e in events if e.type in ("delta", "sentence"))


def read_sync(url: str, body: dict[str, Any], view: str | None = None) -> tuple[str, list[Event]]:
    with Client(url, backoff=QUICK) as client:
        created = client.create(body)
        return created.id, list(client.events(created, view=view))


async def test_sync_client_creates_and_reads(shared: Shared) -> None:
    edge = shared[1]
    rid, events = await asyncio.to_thread(read_sync, edge.url, demo(60, 400))
    text = check_whole(events)
    assert text
    with Client(edge.url) as client:
        snap = client.get(rid)
        assert (snap.status, snap.last_seq, snap.text) == ("done", events[-1].seq, text)
        assert "demo" in client.models()
        assert list(client.events(rid, after=events[-1].seq)) == []  # 204: nothing after it
        tail = list(client.events(rid, after=events[-3].seq))
        assert [e.seq for e in tail] == [e.seq for e in events[-2:]]


async def test_async_client_creates_and_reads(shared: Shared) -> None:
    async with AsyncClient(shared[1].url) as client:
        created = await client.create(demo(60, 400))
        events = [e async for e in client.events(created)]
        text = check_whole(events)
        assert (await client.get(created)).text == text
        assert "demo" in await client.models()


@pytest.mark.parametrize(
    ("cut", "tokens", "rate"),
    [({"cut_bytes": 1200}, 150, 300), ({"cut_ms": 150}, 120, 60)],
    ids=["bytes", "ms"],
)
async def test_every_event_once_through_a_proxy_that_cuts_connections(
    shared: Shared, cut: dict[str, Any], tokens: int, rate: float
) -> None:
    edge = shared[1]
    async with CuttingProxy(edge.port, **cut) as proxy:
        rid, events = await asyncio.to_thread(read_sync, proxy.url, demo(tokens, rate))
        assert proxy.cuts >= 3, f"only {proxy.cuts} cuts in {proxy.connections} connections"
        async with AsyncClient(proxy.url, backoff=QUICK) as client:
            again = [e async for e in client.events(rid)]
    text = check_whole(events)
    assert [e.data for e in again] == [e.data for e in events]
    async with client_for(edge.url) as direct:
        whole = await read_all(direct, rid)  # the strict reader, straight from the edge
        assert [e.data for e in whole.events] == [e.data for e in events]
        assert (await final_snapshot(direct, rid, events[-1].seq))["sources"] == {"answer": text}


async def test_a_view_through_the_cutting_proxy(shared: Shared) -> None:
    edge = shared[1]
    async with CuttingProxy(edge.port, cut_bytes=900) as proxy:
        async with AsyncClient(proxy.url, backoff=QUICK) as client:
            created = await client.create(demo(120, 300, views=["sentences"]))
            sentences = [e async for e in client.events(created, view="sentences")]
            raw = [e async for e in client.events(created)]
        assert proxy.cuts >= 2
    assert {e.type for e in sentences} >= {"sentence", "source.done", "done"}
    assert all(e.raw_seq is not None for e in sentences)
    assert check_whole(sentences) == check_whole(raw)  # sentences add up to the raw text


async def test_multiplexed_streams_through_the_cutting_proxy(shared: Shared) -> None:
    edge = shared[1]
    async with AsyncClient(edge.url) as direct:
        created = [await direct.create(demo(40 + 20 * i, 200)) for i in range(3)]
        async with CuttingProxy(edge.port, cut_bytes=1500) as proxy:
            async with AsyncClient(proxy.url, backoff=QUICK) as client:
                stream = client.events_many(created)
                events = [e async for e in stream]
            assert proxy.cuts >= 2
        for c in created:
            mine = [e for e in events if e.rid == c.id]
            assert check_whole(mine) == (await direct.get(c)).text
        assert stream.last_event_id == ",".join(
            f"{c.id}:{len(events_of(events, c.id))}" for c in created
        )
        # Resumed from the end of two and the start of the third: only the third's events.
        third = created[2].id
        positions = {c.id: len(events_of(events, c.id)) for c in created[:2]} | {third: 0}
        rest = [e async for e in direct.events_many(positions)]
        assert {e.rid for e in rest} == {third} and len(rest) == len(events_of(events, third))


def events_of(events: list[Event], rid: str) -> list[Event]:
    return [e for e in events if e.rid == rid]


async def test_cancel(shared: Shared) -> None:
    async with AsyncClient(shared[1].url) as client:
        created = await client.create(demo(2000, 50))
        stream = client.events(created)
        first = [await anext(stream) for _ in range(3)]
        answer = await client.cancel(created)
        assert (answer.cancelled, answer.status) == (True, "cancelling")
        rest = [e async for e in stream]
        check_whole(first + rest, terminal="cancelled")
        again = await client.cancel(created.id)
        assert (again.cancelled, again.status) == (False, "cancelled")


async def test_unknown_response_raises(shared: Shared) -> None:
    async with AsyncClient(shared[1].url) as client:
        with pytest.raises(UnknownResponse) as caught:
            [e async for e in client.events("resp_00000000000_0000000000000000")]
        assert (caught.value.status, caught.value.code) == (404, "unknown_response")
        with pytest.raises(UnknownResponse):
            await client.get("no-such-response")
        with pytest.raises(UnknownResponse):
            await client.cancel("no-such-response")


async def test_not_retained_raises(stack: Stack) -> None:
    settings = stack.settings
    await ensure_topics(settings)
    async with Publisher(settings) as publisher:  # a writer of our own: no worker needed
        writer = publisher.response("client-410")
        await writer.open()
        for i in range(20):
            await writer.delta(f"piece {i} ")
            await writer.flush()  # one event each: seq 1..20, then done
        await writer.done()
    await delete_all_records(settings, settings.events_topic)
    edge = await stack.edge()  # it never saw the events; Kafka and storage no longer hold them
    async with AsyncClient(edge.url) as client:
        for after in (0, 5):
            with pytest.raises(NotRetained) as caught:
                [e async for e in client.events("client-410", after=after)]
            assert caught.value.code == "not_retained"
