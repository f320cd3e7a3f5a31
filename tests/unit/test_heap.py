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


PROBE = """
import sys
from app.heap import fixed_mmap_threshold
if sys.argv[1] == "fixed":
    assert fixed_mmap_threshold()
big = bytes(1 << 20)  # served by mmap; freed, it raises glibc's dynamic threshold to 1 MiB
del big
block = bytes(512 * 1024)  # a fetch buffer's size: from the heap, or a mapping of its own?
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        print("heap" if lo <= id(block) < hi else "mmap")
        break
else:
    print("mmap")
"""


@pytest.mark.parametrize(("mode", "where"), [("fixed", "mmap"), ("default", "heap")])
def test_big_blocks_keep_their_own_mappings_after_a_bigger_one_is_freed(
    mode: str, where: str
) -> None:
    # In a process of its own: malloc's settings are the whole process's. "default" is the
    # control: glibc's threshold rose with the freed block, and the next big one is in the heap.
    if platform.libc_ver()[0] != "glibc":
        pytest.fail("tokenrelay's processes run on glibc here; this test checks its malloc")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert out.stdout.strip() == where
