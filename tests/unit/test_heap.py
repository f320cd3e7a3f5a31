"""settle_heap: a fan-out wave of short-lived objects dies young instead of being promoted
towards a full collection (app/heap.py)."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
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


def test_freed_memory_inside_the_heap_goes_back_to_the_system() -> None:
    """Blocks freed below live ones stay in the process until the heap is trimmed."""
    assert platform.libc_ver()[0] == "glibc"  # the machines this runs on
    code = """
import sys
from app.heap import release_free_memory

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024

keep, free = [], []
for i in range(40_000):  # ~60 MiB of Kafka-record-sized blocks, one in 16 kept
    (keep if i % 16 == 0 else free).append(bytearray(1500))
free.clear()
before = rss_mib()
released = release_free_memory() if sys.argv[1] == "trim" else False
print(before, rss_mib(), released)
"""
    out: dict[str, tuple[int, int, bool]] = {}
    for mode in ("trim", "control"):
        run = subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        rss_before, rss_after, did = run.stdout.split()
        out[mode] = (int(rss_before), int(rss_after), did == "True")
    before, after, released = out["trim"]
    assert released and after < before - 25, out  # most of the ~56 MiB freed went back
    before, after, _ = out["control"]
    assert after >= before - 2, out  # untrimmed, the process keeps it
