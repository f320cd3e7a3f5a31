"""A load-generator process (`python -m bench.loadgen`): runs one task from bench.tasks for the
harness, and measures its own CPU and event-loop lag so a result can say when the load generator
itself was the bottleneck (CPU) or its clock readings were late (loop lag)."""

# Protocol, JSON lines: stdin line 1 is {"task": NAME, ...spec}. Tasks that start in step with
# others print {"event": "ready", ...} and wait for a stdin line {"start_at": epoch ms}. Every
# task ends by printing {"event": "result", ...}.

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson

from bench.hist import Histogram

# Over this share of one core the load generator itself may have limited the load it offered
# or read. Over this event-loop lag (p99) its receive times may be late by that much, most
# often because the host's CPUs are oversubscribed.
BOTTLENECK_CPU_PCT = 85.0
LAGGING_MS = 20.0
LAG_TICK_S = 0.02


class Control:
    """The task's side of the protocol, and its self-measurement."""

    def __init__(self) -> None:
        self.lag = Histogram()
        self._cpu_pct: float | None = None

    def emit(self, event: str, **fields: Any) -> None:
        sys.stdout.buffer.write(orjson.dumps({"event": event, **fields}) + b"\n")
        sys.stdout.buffer.flush()

    async def ready(self, **fields: Any) -> float:
        """Say the task is set up; wait for and return the common start time (epoch ms)."""
        self.emit("ready", **fields)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if not line:
            raise SystemExit("harness closed stdin before start")
        return float(orjson.loads(line)["start_at"])

    async def wait_line(self, timeout_s: float) -> None:
        """Wait for any stdin line (the harness's "carry on"), at most `timeout_s`."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout_s)
        except TimeoutError:
            pass

    async def measure(self, from_ms: float, to_ms: float) -> None:
        """Record CPU and loop lag between two epoch-ms instants (run as a task)."""
        await asyncio.sleep(max(0.0, from_ms / 1000 - time.time()))
        cpu0, wall0 = time.process_time(), time.monotonic()
        loop = asyncio.get_running_loop()
        while time.time() * 1000 < to_ms:
            before = loop.time()
            await asyncio.sleep(LAG_TICK_S)
            self.lag.add(max(0.0, (loop.time() - before - LAG_TICK_S) * 1000))
        wall = time.monotonic() - wall0
        self._cpu_pct = 100.0 * (time.process_time() - cpu0) / wall if wall > 0.05 else None

    def self_report(self) -> dict[str, Any]:
        lag_p99 = self.lag.percentile(99)
        cpu = self._cpu_pct
        return {
            "cpu_pct": None if cpu is None else round(cpu, 1),
            "loop_lag_p99_ms": None if lag_p99 is None else round(lag_p99, 2),
            "bottleneck": cpu is not None and cpu >= BOTTLENECK_CPU_PCT,
            "lagging": lag_p99 is not None and lag_p99 >= LAGGING_MS,
        }


async def _main() -> None:
    from bench import tasks

    line = sys.stdin.readline()
    spec = orjson.loads(line)
    run = tasks.TASKS[spec.pop("task")]
    ctl = Control()
    result = await run(spec, ctl)
    ctl.emit("result", **result, loadgen=ctl.self_report())


def main() -> None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; plain asyncio still works
        asyncio.run(_main())
    else:
        uvloop.run(_main())


if __name__ == "__main__":
    main()
