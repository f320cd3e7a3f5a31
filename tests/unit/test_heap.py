"""settle_heap: a fan-out wave of short-lived objects dies young instead of being promoted
towards a full collection (app/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from app.heap import settle_heap

WAVE = 5_000  # objects alive at once while one token reaches 1,000 readers


@pytest.fixture
def settled() -> Iterator[None]:
    before = gc.get_threshold()
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_wave_of_short_lived_objects_is_not_collected_mid_wave(settled: None) -> None:
    collections: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        wave = [{"reader": i} for i in range(WAVE)]  # each dict is tracked by the collector
        del wave
    finally:
        gc.callbacks.remove(seen)
    assert collections == []
