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
from bench.config import TOKENRELAY
from bench.context import Context
from bench.hist import Histogram, merged
from bench.loadproc import LoadProc
from bench.systems import Plan, System, due_ms

READERS_PER_PROC = 250  # readers are split over load-generator processes of at most this many
MAX_READ_PROCS = 4
START_LEAD_MS = 500.0
PRODUCER_LATE_MS = 50.0
# Fan-out is one response: the two tokenrelay paths differ only in who writes its 30 tokens/s,
# so only the product's path (POST) is measured.
FANOUT_SKIP = frozenset({"tokenrelay-sdk"})


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
    tokens = max(1, math.ceil(m.rate * (m.warmup_s + duration)))
    window = [m.warmup_s, m.warmup_s + duration]
    deadline = window[1] + m.drain_s
    procs: list[LoadProc] = []
    try:
        plan: Plan = await system.prepare(label, responses, tokens, m.rate, window)
        readers = [
            {**system.reader(sid), "due_ms": due_ms(j, len(plan.ids), m.rate)}
            for j, sid in enumerate(plan.ids)
            for _ in range(readers_per)
        ]
        nproc = min(MAX_READ_PROCS, max(1, math.ceil(len(readers) / READERS_PER_PROC)))
        procs = [
            LoadProc(
                ctx.children,
                f"{label}-read{i}",
                {
                    "task": "read",
                    "host": "127.0.0.1",
                    "port": system.port,
                    "readers": readers[i::nproc],
                    "expect": plan.expect,
                    "rate": m.rate,
                    "window": window,
                    "deadline": deadline,
                    "connect_timeout_s": 60,
                },
            )
            for i in range(nproc)
        ]
        for lp in procs:
            await lp.start()
        for lp in procs:
            await lp.expect("ready", 180)
        now = time.time() * 1000
        start_at = plan.start_at or now + START_LEAD_MS
        # Readers that connected after their stream's first token: its first events reach them
        # from the edge's memory, not live (the recorded window starts after the warm-up).
        readers_lead_ms = round(start_at - now, 1)
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
    out = summarize(system, responses, len(readers), m.rate, duration, results, producer, usage)
    out["plan"] = {**plan.notes, "readers_lead_ms": readers_lead_ms}
    out["readers_late"] = readers_lead_ms < 0
    return out


def summarize(
    system: System,
    responses: int,
    readers: int,
    rate: float,
    duration_s: float,
    results: list[dict[str, Any]],
    producer: dict[str, Any],
    usage: dict[str, Any],
) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    hist = merged(Histogram.from_json(r["hist"]) for r in results)
    per_delta = merged(Histogram.from_json(r["delta_hist"]) for r in results)
    schedule = merged(Histogram.from_json(r["schedule_hist"]) for r in results)
    first = merged(Histogram.from_json(r["first_hist"]) for r in results)
    in_window = total("in_window_tokens")
    expected = readers * rate * duration_s
    errors: dict[str, int] = {}
    for r in results:
        for kind, n in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    loadgens = [r["loadgen"] for r in results] + ([producer["loadgen"]] if producer else [])
    completed = total("completed")
    lateness = producer.get("lateness") if producer else schedule.summary()
    per_token = cpu.per_token_us(usage, in_window)
    server = [n for n in system.server_side if n in per_token]
    tokens, tokens_expected = total("tokens"), total("tokens_expected")
    return {
        "system": system.name,
        "responses": responses,
        "readers": readers,
        "rate": rate,
        "offered_tokens_s": round(responses * rate, 1),
        "delivered_tokens_s": round(in_window / duration_s, 1),
        # Of the tokens due in the recorded window, the share delivered in it (keeping up) ...
        "delivered_ratio": round(in_window / expected, 4) if expected else None,
        # ... and of every token of every response, the share that reached its reader.
        "tokens": tokens,
        "tokens_expected": tokens_expected,
        "tokens_ratio": round(tokens / tokens_expected, 4) if tokens_expected else None,
        "deltas": total("deltas"),
        "tokens_per_delta": round(total("in_window_tokens") / total("in_window_deltas"), 3)
        if total("in_window_deltas")
        else None,
        "latency": hist.summary(),
        "latency_per_delta": per_delta.summary(),
        "hist": hist.to_json(),
        "connected": total("connected"),
        "completed": completed,
        "complete": completed == readers,
        "exact": total("exact"),
        "gaps": total("gaps"),
        "mismatched": total("mismatched"),
        "errors": errors,
        "cpu": usage,
        "cpu_us_per_token": per_token,
        "server_side": server,
        "cpu_us_per_token_server": round(sum(per_token[n] for n in server), 2) if server else None,
        "loadgen": loadgens,
        "loadgen_bottleneck": any(lg["bottleneck"] for lg in loadgens),
        "loadgen_lagging": any(lg["lagging"] for lg in loadgens),
        # When the tokens were written (ts) against when they were due: the SDK producer's own
        # figure, or the readers' (ts minus due) for systems whose producer does not report.
        "producer_lateness": lateness,
        # The load was not offered as scheduled: tokens were written late.
        "producer_behind": bool(lateness and (lateness["p99_ms"] or 0) > PRODUCER_LATE_MS),
        # Each reader's first token: its `ts` against when it was due (on the POST path, the
        # request's way through Kafka to the worker's model under this load).
        "first_token_late": first.summary(),
    }


async def after_run(ctx: Context, result: dict[str, Any]) -> None:
    """A tokenrelay run that did not finish left a backlog in Kafka: move to fresh topics."""
    if result["system"] in TOKENRELAY and not result.get("complete"):
        ctx.log("tokenrelay run left a backlog; restarting worker and edge on fresh topics")
        await ctx.tokenrelay.restart()
    await asyncio.sleep(0.5)


async def guarded(
    ctx: Context,
    system: System,
    *,
    responses: int,
    readers_per: int,
    label: str,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """run_load that records a failed run (and carries on) instead of ending the benchmark."""
    try:
        r = await run_load(
            ctx,
            system,
            responses=responses,
            readers_per=readers_per,
            label=label,
            duration_s=duration_s,
        )
        ctx.log(brief(r))
    except Exception as exc:
        ctx.log(f"{system.name} run of {responses} x {readers_per} failed: {exc!r}")
        r = {
            "system": system.name,
            "responses": responses,
            "readers": responses * readers_per,
            "error": repr(exc)[:2000],
        }
    await after_run(ctx, r)
    return r


def brief(r: dict[str, Any]) -> str:
    lat = r["latency"]
    return (
        f"{r['system']}: {r['responses']} resp x {r['readers'] // r['responses']} readers, "
        f"p50 {lat['p50_ms']} p99 {lat['p99_ms']} ms, {r['delivered_tokens_s']} tok/s "
        f"({r['delivered_ratio']}; all {r['tokens_ratio']}; {r['tokens_per_delta']} "
        f"tok/delta), complete {r['completed']}/{r['readers']}, server CPU "
        f"{r['cpu_us_per_token_server']} µs/tok, first tokens late p50 "
        f"{r['first_token_late']['p50_ms']} / max {r['first_token_late']['max_ms']} ms "
        f"({r['first_token_late']['count']} of {r['readers']} got one)"
        + (" [loadgen bottleneck]" if r["loadgen_bottleneck"] else "")
        + (" [loadgen lagging]" if r["loadgen_lagging"] else "")
        + (" [readers late]" if r.get("readers_late") else "")
    )


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
        for name, system in ctx.systems.items()
        if name not in FANOUT_SKIP
    ]
    out = {"rate": ctx.mode.rate, "runs": runs}
    ctx.write("fanout", out)
    return out
