"""Added latency under load (N responses at 30 tokens/s, one reader each) and fan-out (one
response, K readers), on every system in turn. `run_load` is the one load run, which the
throughput search and the profile reuse."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import cpu
from bench.context import Context
from bench.hist import Histogram, merged
from bench.loadproc import LoadProc
from bench.systems import System

READERS_PER_PROC = 250  # above this the readers are split over two load-generator processes
START_LEAD_MS = 500.0
PRODUCER_LATE_MS = 50.0


async def run_load(
    ctx: Context,
    system: System,
    *,
    responses: int,
    readers_per: int,
    label: str,
    duration_s: float | None = None,
    on_window: Callable[[], Awaitable[Any]] | None = None,
) -> dict[str, Any]:
    """One load run; `on_window` (the profiler) is started as the recorded window opens."""
    m = ctx.mode
    duration = duration_s or m.duration_s
    ids = [f"{label}-{i}" for i in range(responses)]
    tokens = max(1, math.ceil(m.rate * (m.warmup_s + duration)))
    window = [m.warmup_s, m.warmup_s + duration]
    deadline = window[1] + m.drain_s
    procs: list[LoadProc] = []
    try:
        await system.prepare(ids, tokens, m.rate, window)
        readers = [system.reader(sid) for sid in ids for _ in range(readers_per)]
        nproc = 1 if len(readers) <= READERS_PER_PROC else 2
        procs = [
            LoadProc(ctx.children, f"{label}-read{i}", {
                "task": "read", "host": "127.0.0.1", "port": system.port,
                "readers": readers[i::nproc], "window": window, "deadline": deadline,
                "connect_timeout_s": 60,
            })
            for i in range(nproc)
        ]
        for lp in procs:
            await lp.start()
        for lp in procs:
            await lp.expect("ready", 180)
        start_at = time.time() * 1000 + START_LEAD_MS
        for lp in procs:
            lp.send({"start_at": start_at})
        await system.go(start_at)
        pids = {**system.pids(), **{f"loadgen-read{i}": lp.pid for i, lp in enumerate(procs)}}
        meter = cpu.Window(pids)
        await asyncio.sleep(max(0.0, start_at / 1000 + window[0] - time.time()))
        meter.begin()
        side = asyncio.ensure_future(on_window()) if on_window else None
        await asyncio.sleep(duration)
        usage = meter.end()
        if side is not None:
            await side
        results = [await lp.result(deadline + 60) for lp in procs]
        producer = await system.collect()
    except BaseException:
        for lp in procs:  # a failed run must not leave load running into the next one
            lp.kill()
        system.abort()
        raise
    return summarize(system.name, responses, len(readers), m.rate, duration, results,
                     producer, usage)


def summarize(
    name: str,
    responses: int,
    readers: int,
    rate: float,
    duration_s: float,
    results: list[dict[str, Any]],
    producer: dict[str, Any],
    usage: dict[str, Any],
) -> dict[str, Any]:
    hist = merged(Histogram.from_json(r["hist"]) for r in results)
    in_window = sum(r["in_window"] for r in results)
    expected = readers * rate * duration_s
    errors: dict[str, int] = {}
    for r in results:
        for kind, n in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    loadgens = [r["loadgen"] for r in results] + ([producer["loadgen"]] if producer else [])
    completed = sum(r["completed"] for r in results)
    lateness = producer.get("lateness") if producer else None
    return {
        "system": name,
        "responses": responses,
        "readers": readers,
        "rate": rate,
        "offered_events_s": round(responses * rate, 1),
        "delivered_events_s": round(in_window / duration_s, 1),
        "delivered_ratio": round(in_window / expected, 4) if expected else None,
        "latency": hist.summary(),
        "hist": hist.to_json(),
        "connected": sum(r["connected"] for r in results),
        "completed": completed,
        "complete": completed == readers,
        "gaps": sum(r["gaps"] for r in results),
        "errors": errors,
        "cpu": usage,
        "loadgen": loadgens,
        "loadgen_bottleneck": any(lg["bottleneck"] for lg in loadgens),
        "loadgen_lagging": any(lg["lagging"] for lg in loadgens),
        "producer_lateness": lateness,
        # The load was not offered as scheduled: tokens left the producer late.
        "producer_behind": bool(lateness and (lateness["p99_ms"] or 0) > PRODUCER_LATE_MS),
    }


async def after_run(ctx: Context, result: dict[str, Any]) -> None:
    """A tokenrelay run that did not finish left a backlog in Kafka: move to fresh topics."""
    if result["system"] == "tokenrelay" and not result.get("complete"):
        ctx.log("tokenrelay run left a backlog; restarting worker and edge on fresh topics")
        await ctx.tokenrelay.restart()
    await asyncio.sleep(0.5)


async def guarded(
    ctx: Context, system: System, *, responses: int, readers_per: int, label: str
) -> dict[str, Any]:
    """run_load that records a failed run (and carries on) instead of ending the benchmark."""
    try:
        r = await run_load(ctx, system, responses=responses, readers_per=readers_per,
                           label=label)
        ctx.log(brief(r))
    except Exception as exc:
        ctx.log(f"{system.name} run of {responses} x {readers_per} failed: {exc!r}")
        r = {"system": system.name, "responses": responses, "readers": responses * readers_per,
             "error": repr(exc)[:2000]}
    await after_run(ctx, r)
    return r


def brief(r: dict[str, Any]) -> str:
    lat = r["latency"]
    return (f"{r['system']}: {r['responses']} resp x {r['readers'] // r['responses']} readers, "
            f"p50 {lat['p50_ms']} p99 {lat['p99_ms']} ms, {r['delivered_events_s']}/s "
            f"({r['delivered_ratio']}), complete {r['completed']}/{r['readers']}"
            + (" [loadgen bottleneck]" if r["loadgen_bottleneck"] else "")
            + (" [loadgen lagging]" if r["loadgen_lagging"] else ""))


async def latency(ctx: Context) -> dict[str, Any]:
    runs = [
        await guarded(ctx, system, responses=n, readers_per=1, label=ctx.label("lat"))
        for n in ctx.mode.loads
        for system in ctx.systems.values()
    ]
    out = {"rate": ctx.mode.rate, "runs": runs}
    ctx.write("latency", out)
    return out


async def fanout(ctx: Context) -> dict[str, Any]:
    runs = [
        await guarded(ctx, system, responses=1, readers_per=k, label=ctx.label("fan"))
        for k in ctx.mode.fanouts
        for system in ctx.systems.values()
    ]
    out = {"rate": ctx.mode.rate, "runs": runs}
    ctx.write("fanout", out)
    return out
