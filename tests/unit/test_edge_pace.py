"""The edge's fetch pacing: batched fetches only while busy, with hysteresis, and the aiokafka
attributes it sets are the ones aiokafka builds its fetch requests from."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from aiokafka.consumer.fetcher import Fetcher

from app.edge.pace import BATCH_BYTES, QUIET_WAIT_MS, Pacer


def fetcher() -> SimpleNamespace:
    return SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=QUIET_WAIT_MS)


def feed(pacer: Pacer, rate: int, start: float, seconds: float = 1.0) -> float:
    """`rate` records/s in getmany batches every 10 ms from `start`; the time it ends."""
    steps = int(seconds * 100)
    for i in range(1, steps + 1):
        pacer.consumed(rate // 100, start + i * 0.01)
    return start + steps * 0.01


def test_batching_switches_on_under_load_and_off_when_quiet() -> None:
    f = fetcher()
    pacer = Pacer(busy_wait_ms=5)
    pacer.attach(SimpleNamespace(_fetcher=f))
    t = feed(pacer, 500, 0.0)
    assert not pacer.busy and (f._fetch_min_bytes, f._fetch_max_wait_ms) == (1, QUIET_WAIT_MS)
    t = feed(pacer, 5000, t)
    assert pacer.busy and (f._fetch_min_bytes, f._fetch_max_wait_ms) == (BATCH_BYTES, 5)
    t = feed(pacer, 1500, t)  # between the two thresholds: stays batched
    assert pacer.busy
    feed(pacer, 300, t)
    assert not pacer.busy and (f._fetch_min_bytes, f._fetch_max_wait_ms) == (1, QUIET_WAIT_MS)


def test_zero_wait_or_an_unknown_fetcher_never_batches() -> None:
    for wait, consumer in ((0, SimpleNamespace(_fetcher=fetcher())), (5, SimpleNamespace())):
        pacer = Pacer(busy_wait_ms=wait)
        pacer.attach(consumer)
        feed(pacer, 10_000, 0.0)
        assert not pacer.busy


def test_aiokafka_builds_fetch_requests_from_the_paced_attributes() -> None:
    source = inspect.getsource(Fetcher)
    assert "self._fetch_min_bytes," in source and "self._fetch_max_wait_ms," in source
