"""Poison records on every topic a process consumes: garbage bytes, valid JSON of the wrong
shape, a null value and a huge value, each with the right key. Every time the consumers keep
working (a live response completes gap-free, a response created after streams whole, cancels
and stats still arrive), each record lands in <prefix>.deadletter exactly once (one reader of
each topic dead-letters it; the edge's events, views and stats readers once per edge, and this
stack has one edge), and the edge's /metrics counts it under its topic.

Who reads what: events (edge fan-out, catch-up reads, views follower, persist, side reads),
views.<name> (edge, persist), responses (edge, watchdog, views, stats, persist agents: the
watchdog dead-letters), requests (generation agent), control (every worker, persist group: the
persist group dead-letters), stats (every edge). Faust's changelogs are its own.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from app.contract.stats import WIRE_VERSION

from .conftest import started
from .kafkautil import Record, produce_raw, read_topic
from .procs import Edge, Stack
from .sse import assert_contiguous, client_for, create, delta_text, final_snapshot, read_all

pytestmark = pytest.mark.integration
HUGE = b"\x00poison" * (512 * 1024 // 7)  # ~512 KiB: under a record's 1 MB, with headers
QUIET_S = 2.0  # after the dead letters arrived: long enough for a duplicate to follow


def poison(topic: str, rid: str) -> list[bytes | None]:
    """The poison values for `topic`: its wrong shape is JSON its decoder refuses."""
    wrong = {
        "events": {"rid": rid, "type": "delta", "text": "no seq"},
        "views.sentences": {"rid": rid, "type": "sentence", "text": "no seq"},
        "responses": {"rid": rid, "state": "open"},
        "requests": {"calls": [{"model": "demo", "input": "no rid"}]},
        "control": {"action": "cancel"},
        "stats": {"v": WIRE_VERSION, "model": 5},
    }[topic]
    out = [b"\xff\xfe not json", orjson.dumps(wrong), None, HUGE]
    if topic == "responses":  # the right shape, values no writer writes (app/contract/index.py)
        out.append(orjson.dumps({"rid": rid, "state": "open", "partition": 0, "created": 1e30,
                                 "ts": 1.0, "seq": 0, "views": ["sentences"]}))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def poisoned(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with started(broker, tmp_path_factory) as s:
        yield s


@pytest.fixture
async def client(poisoned: Stack) -> AsyncIterator[httpx.AsyncClient]:
    edge = next(p for p in poisoned.procs if isinstance(p, Edge))
    async with client_for(edge.url) as c:
        yield c


DEMO = {"model": "demo", "input": "One sentence here. And another one.", "views": ["sentences"]}


@pytest.mark.parametrize(
    "topic", ["events", "views.sentences", "responses", "requests", "control", "stats"]
)
async def test_poison_is_dead_lettered_once_counted_and_stops_nothing(
    poisoned: Stack, client: httpx.AsyncClient, topic: str
) -> None:
    settings = poisoned.settings
    counted = await deadletters_counted(client, topic)
    # Mid-stream of a live response, keyed to it: it still completes gap-free.
    live = await create(client, {**DEMO, "params": {"tokens": 150, "rate": 100}})
    await asyncio.sleep(0.3)
    key = live.encode() if topic != "stats" else b"0\x1fdemo\x1f1"
    origins = await produce_raw(settings, f"{settings.topic_prefix}.{topic}", key,
                                *poison(topic, live))  # fmt: skip
    whole = await read_all(client, live, timeout_s=60)
    assert_contiguous(whole.events)
    snap = await final_snapshot(client, live, whole.events[-1].seq)
    assert snap["sources"]["answer"] == delta_text(whole.events)

    await keeps_working(client, topic)

    dead = await read_topic(settings, settings.deadletter_topic, until=holding(origins),
                            timeout_s=30)  # fmt: skip
    await asyncio.sleep(QUIET_S)
    dead = await read_topic(settings, settings.deadletter_topic, until=holding(origins),
                            timeout_s=30)  # fmt: skip
    found = [origin_of(r) for r in dead]
    assert {o: found.count(o) for o in origins} == dict.fromkeys(origins, 1)
    assert await wait_counted(client, topic, counted + len(origins)) == counted + len(origins)


async def keeps_working(client: httpx.AsyncClient, topic: str) -> None:
    """A response created after the poison streams whole (its view too), and the reader the
    poison went to still does its job."""
    stats_before = (await client.get("/v1/stats")).json()["total"]["responses"]
    rid = await create(client, {**DEMO, "params": {"tokens": 12}})
    assert_contiguous((await read_all(client, rid, timeout_s=60)).events)
    view = await read_all(client, rid, view="sentences", timeout_s=60)
    assert_contiguous(view.events)
    if topic == "control":  # every worker's cancel reader
        long = await create(client, {**DEMO, "params": {"tokens": 1000, "rate": 20}})
        assert (await client.post(f"/v1/responses/{long}/cancel")).status_code == 202
        ended = await read_all(client, long, timeout_s=60)
        assert ended.events[-1].type == "cancelled"
    if topic == "stats":  # the edge's stats reader: the finished response is counted
        await wait_stats(client, lambda report: report["total"]["responses"] > stats_before)


def holding(origins: list[str]) -> Any:
    return lambda records: set(origins) <= {origin_of(r) for r in records}


def origin_of(record: Record) -> str:
    return dict(record.headers).get("origin", b"").decode()


async def deadletters_counted(client: httpx.AsyncClient, topic: str) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(rf'^tokenrelay_deadletters_total{{topic="{re.escape(topic)}"}} (\S+)$',
                      text, re.MULTILINE)  # fmt: skip
    return float(found.group(1)) if found else 0.0


async def wait_counted(client: httpx.AsyncClient, topic: str, want: float) -> float:
    deadline = time.monotonic() + 20
    while True:
        got = await deadletters_counted(client, topic)
        if got >= want or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


async def wait_stats(client: httpx.AsyncClient, ok: Any) -> None:
    deadline = time.monotonic() + 30
    while not ok((await client.get("/v1/stats")).json()):
        assert time.monotonic() < deadline, "stats never counted the response"
        await asyncio.sleep(0.3)

