"""A reader racing its POST: the id is fresh and was created after this edge began following
its topics, so the response arrives live and the edge waits for it without a search of the
index (a search made it adopted rather than followed from its start: a lookup and a catch-up
read per response). An id the edge cannot have seen created is still searched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app import ids
from app.contract.index import IndexRecord
from app.edge.lookup import CLOCK_SKEW_MS, Locator
from app.edge.metrics import Metrics
from tests.unit.test_reader import SETTINGS, make


class NoKafka:
    """A consumer pool that counts who asked for a consumer, and has none to give."""

    def __init__(self) -> None:
        self.asked = 0

    @asynccontextmanager
    async def consumer(self) -> AsyncIterator[Any]:
        self.asked += 1
        raise TimeoutError("no Kafka in this test")
        yield


def opened(rid: str, created: float) -> bytes:
    return IndexRecord(rid, "open", 0, created=created, ts=created, seq=0).encode()


async def race(since_ms: float | None) -> tuple[NoKafka, Any]:
    fanout, _ = make()
    fanout.partitions = {SETTINGS.responses_topic: 1}
    fanout.following_since_ms = since_ms
    pool = NoKafka()
    locator = Locator(SETTINGS, Metrics(), fanout, pool)  # type: ignore[arg-type]
    now = time.time() * 1000
    rid = ids.new_response_id(now)
    find = asyncio.create_task(locator.find(rid, 3.0))
    await asyncio.sleep(0.05)  # the reader waits; then its open record comes live
    fanout.on_index(opened(rid, now))
    try:
        return pool, await asyncio.wait_for(find, 5)
    except Exception as exc:  # the search's failure, when it searched
        return pool, exc


async def test_a_response_created_after_the_edge_followed_arrives_without_a_search() -> None:
    pool, tracked = await race(since_ms=time.time() * 1000 - 2 * CLOCK_SKEW_MS)
    assert pool.asked == 0
    assert tracked.from_start  # followed from its first event: no catch-up read from Kafka


async def test_an_id_from_before_the_edge_followed_is_searched() -> None:
    pool, _ = await race(since_ms=time.time() * 1000 + CLOCK_SKEW_MS)  # followed only since
    assert pool.asked == 1
    pool, _ = await race(since_ms=None)  # not following yet
    assert pool.asked == 1
