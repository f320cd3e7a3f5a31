"""How far the persist agent is behind under a load: after a run, how many of the responses
created in it are stored and their lag from terminal event to stored (`stored_ms -
finished_ms`), read from the stack's own SQLite database (bench/stack.py gives each stack one);
and waiting for one response to be stored (the replay-from-storage measurement)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

WAIT_S = 30.0  # a persist agent this far behind after the run's end is reported as such


async def measure(db: Path, since_ms: float, expected: int) -> dict[str, Any]:
    began = time.monotonic()
    rows: list[tuple[float, float]] = []
    while True:
        rows = _rows(db, since_ms)
        if len(rows) >= expected or time.monotonic() - began > WAIT_S:
            break
        await asyncio.sleep(0.5)
    lags = sorted(max(0.0, stored - finished) for finished, stored in rows)

    def at(q: float) -> float | None:
        return round(lags[min(len(lags) - 1, int(q * len(lags)))], 1) if lags else None

    return {
        "expected": expected,
        "stored": len(rows),
        "lag_ms": {"p50": at(0.5), "p95": at(0.95), "max": lags[-1] if lags else None},
        "waited_s": round(time.monotonic() - began, 1),
    }


def _rows(db: Path, since_ms: float) -> list[tuple[float, float]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            found = conn.execute(
                "SELECT finished_ms, stored_ms FROM responses WHERE created_ms >= ? "
                "AND finished_ms IS NOT NULL AND stored_ms IS NOT NULL",
                (since_ms,),
            ).fetchall()
    except sqlite3.Error:
        return []  # not migrated yet, or locked past the timeout: try again
    return [(float(f), float(s)) for f, s in found]


async def wait_stored(db: Path, rid: str, timeout_s: float) -> float:
    """Seconds until `rid` is stored; RuntimeError past `timeout_s`."""
    began = time.monotonic()
    while not _has(db, rid):
        if time.monotonic() - began > timeout_s:
            raise RuntimeError(f"{rid} not stored after {timeout_s:g}s")
        await asyncio.sleep(0.2)
    return round(time.monotonic() - began, 2)


def _has(db: Path, rid: str) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            found = conn.execute("SELECT 1 FROM responses WHERE id = ?", (rid,)).fetchone()
            return found is not None
    except sqlite3.Error:
        return False
