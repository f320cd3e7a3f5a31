"""The persist agent keeps up with thousands of responses a minute: ~5,000/min published through
the producer SDK for a few seconds, every one stored, and its lag (stored - finished) printed
and bounded, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from app.producer import Publisher, new_response_id
from app.storage.store import Store

from .conftest import on_database
from .procs import Stack

pytestmark = pytest.mark.integration

PUBLISHERS = 30
EACH = 20  # responses per publisher, one after the other
DELTAS = 30


@pytest.fixture
async def db_stack(stack: Stack, database_url: str) -> AsyncIterator[tuple[Stack, Store]]:
    async with on_database(stack, database_url, migrate_sqlite=True) as store:
        yield stack, store


async def publish(pub: Publisher, rids: list[str]) -> None:
    for rid in rids:
        w = pub.response(rid)
        await w.open()
        for i in range(DELTAS):
            await w.delta(f"word{i} ")
            await asyncio.sleep(0.005)
        await w.source_done()
        await w.done()


async def test_persist_keeps_up(db_stack: tuple[Stack, Store]) -> None:
    stack, store = db_stack
    await stack.worker()
    rids = [[new_response_id() for _ in range(EACH)] for _ in range(PUBLISHERS)]
    every = [rid for group in rids for rid in group]
    start = time.monotonic()
    async with Publisher(stack.settings) as pub:
        await asyncio.gather(*(publish(pub, group) for group in rids))
    published_s = time.monotonic() - start
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(await store.stored(every)) == len(every):
            break
        await asyncio.sleep(0.5)
    assert await store.stored(every) == set(every)
    rows = [await store.get(rid) for rid in every]
    lags = sorted(r.stored_ms - r.finished_ms for r in rows if r and r.finished_ms)
    assert len(lags) == len(every) and all(r and r.complete for r in rows)
    p50, p95 = statistics.median(lags), lags[int(len(lags) * 0.95)]
    backend = stack.settings.database_url.split(":")[0]
    print(f"\npersist on {backend}: {len(every)} responses in {published_s:.1f} s "
          f"({len(every) / published_s * 60:.0f}/min), lag p50 {p50:.0f} ms p95 {p95:.0f} ms "
          f"max {lags[-1]:.0f} ms")  # fmt: skip
    assert lags[-1] < 30_000
