"""CPU and memory of named processes over a window, from psutil: 100 % is one core busy for the
whole window, so on this 2-core machine the processes of one run add up to at most 200 %."""

from __future__ import annotations

import time
from typing import Any

import psutil


class Window:
    """Call `begin` at the window's start and `end` at its close."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            try:
                self.procs[name] = psutil.Process(pid)
            except psutil.Error:
                pass
        self._t0 = 0.0
        self._cpu0: dict[str, float] = {}
        self._host0: Any = None

    def begin(self) -> None:
        self._t0 = time.monotonic()
        self._host0 = psutil.cpu_times()
        self._cpu0 = {name: _cpu(p) for name, p in self.procs.items()}

    def end(self) -> dict[str, Any]:
        """Per process: % of one core, CPU seconds (user + system), RSS; and the host's busy %."""
        wall = time.monotonic() - self._t0
        out: dict[str, Any] = {}
        for name, p in self.procs.items():
            now = _cpu(p)
            if now < 0 or self._cpu0.get(name, -1) < 0 or wall <= 0:
                continue
            used = now - self._cpu0[name]
            out[name] = {
                "cpu_pct": round(100 * used / wall, 1),
                "cpu_s": round(used, 4),
                "rss_mb": round(_rss(p) / 2**20, 1),
            }
        host = psutil.cpu_times()
        busy = _busy(host) - _busy(self._host0)
        total = sum(host) - sum(self._host0)
        out["host"] = {
            "busy_pct": round(100 * busy / total * psutil.cpu_count(), 1) if total > 0 else None
        }
        return out


def per_token_us(usage: dict[str, Any], tokens: int) -> dict[str, float]:
    """CPU microseconds per delivered token of every process in a window's `end()`."""
    if tokens <= 0:
        return {}
    return {name: round(u["cpu_s"] * 1e6 / tokens, 2) for name, u in usage.items() if "cpu_s" in u}


def rss_bytes(pid: int) -> int:
    try:
        return _rss(psutil.Process(pid))
    except psutil.Error:
        return 0


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return -1.0


def _rss(p: psutil.Process) -> int:
    try:
        return int(p.memory_info().rss)
    except psutil.Error:
        return 0


def _busy(t: Any) -> float:
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))
