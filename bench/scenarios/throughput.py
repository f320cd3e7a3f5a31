"""Throughput: the most delivered tokens/s at which tokenrelay's p99 added latency stays under
the limit, found by doubling the responses (30 tokens/s, one reader each; capped at
`throughput_max_tokens_s`) until a step fails, then bisecting (geometrically) between the last
pass and the first failure. Each step records CPU microseconds per delivered token per process,
the figure that stays comparable on a noisy machine."""

# A step passes when p99 < limit, at least 95 % of the window's scheduled tokens were delivered
# in it, and every reader reached its terminal event. By default it loads the product's path
# (POST /v1/responses, the worker's demo model); `--set throughput_system=tokenrelay-sdk`
# loads the SDK path instead.

from __future__ import annotations

import math
import time
from typing import Any

from bench import persistlag
from bench.context import Context
from bench.scenarios.load import guarded

GROWTH = 2.0
MIN_DELIVERED = 0.95
CLOSE_ENOUGH = 1.1  # stop bisecting when the first failure is within 10 % of the last pass


def passes(r: dict[str, Any], p99_limit_ms: float) -> bool:
    p99 = r["latency"]["p99_ms"] if "error" not in r else None
    return bool(
        p99 is not None
        and p99 < p99_limit_ms
        and (r["delivered_ratio"] or 0) >= MIN_DELIVERED
        and r["complete"]
    )


async def run(ctx: Context) -> dict[str, Any]:
    m = ctx.mode
    name = m.throughput_system if m.throughput_system in ctx.systems else "tokenrelay"
    system = ctx.systems[name]
    most = max(1, int(m.throughput_max_tokens_s // m.rate))
    steps: list[dict[str, Any]] = []

    async def step(n: int) -> bool:
        db, since_ms = ctx.tokenrelay.database, time.time() * 1000
        r = await guarded(
            ctx,
            system,
            responses=n,
            readers_per=1,
            label=ctx.label("thr"),
            duration_s=m.throughput_duration_s,
        )
        r["pass"] = passes(r, m.p99_limit_ms)
        r.pop("hist", None)
        if r["pass"]:  # does the persist agent keep up with this load?
            r["persist"] = await persistlag.measure(db, since_ms, n)
        steps.append(r)
        ctx.log(f"throughput step of {n} responses: {'pass' if r['pass'] else 'FAIL'}")
        return bool(r["pass"])

    best, worst, n = 0, 0, min(most, m.throughput_start)
    for _ in range(m.throughput_steps):
        if await step(n):
            best = n
            if n >= most:
                break
            n = min(most, max(n + 1, math.ceil(n * GROWTH)))
        else:
            worst = n
            break
    for _ in range(m.throughput_bisect):
        if not worst or worst - best <= 1 or (best and worst / best <= CLOSE_ENOUGH):
            break
        mid = round(math.sqrt(best * worst)) if best else max(1, worst // 2)
        mid = min(worst - 1, max(best + 1, mid))
        if await step(mid):
            best = mid
        else:
            worst = mid
    passing = [s for s in steps if s["pass"]]
    knee = max(passing, key=lambda s: s["delivered_tokens_s"]) if passing else None
    out = {
        "system": name,
        "rate": m.rate,
        "p99_limit_ms": m.p99_limit_ms,
        "max_tokens_s": most * m.rate,
        "knee": None
        if knee is None
        else {
            "responses": knee["responses"],
            "delivered_tokens_s": knee["delivered_tokens_s"],
            "p99_ms": knee["latency"]["p99_ms"],
            "cpu": knee["cpu"],
            "cpu_us_per_token": knee["cpu_us_per_token"],
            "cpu_us_per_token_server": knee["cpu_us_per_token_server"],
            "tokens_per_delta": knee["tokens_per_delta"],
            "loadgen_bottleneck": knee["loadgen_bottleneck"],
            "persist": knee.get("persist"),
        },
        "first_failure_responses": worst or None,
        "exhausted": not worst,  # never failed: the knee is at or above the highest step tried
        "steps": sorted(steps, key=lambda s: s["responses"]),
    }
    ctx.write("throughput", out)
    return out
