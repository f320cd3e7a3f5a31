"""Throughput: the highest sustained delivered events/s at which tokenrelay's p99 added latency
stays under the limit, found by stepping responses (30 tokens/s, one reader each) up by half
again until a step fails, then halving the gap between the last pass and the first failure."""

# A step passes when p99 < limit, at least 95 % of the window's scheduled events were delivered
# in it, and every reader reached its terminal event.

from __future__ import annotations

import math
from typing import Any

from bench.context import Context
from bench.scenarios.load import guarded

GROWTH = 1.5
MIN_DELIVERED = 0.95


async def run(ctx: Context) -> dict[str, Any]:
    m = ctx.mode
    steps: list[dict[str, Any]] = []

    async def step(n: int) -> bool:
        r = await guarded(ctx, ctx.systems["tokenrelay"], responses=n, readers_per=1,
                          label=ctx.label("thr"))
        p99 = r["latency"]["p99_ms"] if "error" not in r else None
        r["pass"] = bool(
            p99 is not None and p99 < m.p99_limit_ms
            and (r["delivered_ratio"] or 0) >= MIN_DELIVERED and r["complete"]
        )
        r.pop("hist", None)
        steps.append(r)
        ctx.log(f"throughput step of {n} responses: {'pass' if r['pass'] else 'FAIL'}")
        return bool(r["pass"])

    best, worst, n = 0, 0, m.throughput_start
    for _ in range(m.throughput_steps):
        if await step(n):
            best, n = n, max(n + 1, math.ceil(n * GROWTH))
        else:
            worst = n
            break
    for _ in range(m.throughput_bisect):
        if not worst or worst - best <= 1:
            break
        mid = (best + worst) // 2 if best else max(1, worst // 2)
        if await step(mid):
            best = mid
        else:
            worst = mid
    passing = [s for s in steps if s["pass"]]
    knee = max(passing, key=lambda s: s["delivered_events_s"]) if passing else None
    out = {
        "rate": m.rate,
        "p99_limit_ms": m.p99_limit_ms,
        "knee": None if knee is None else {
            "responses": knee["responses"],
            "delivered_events_s": knee["delivered_events_s"],
            "p99_ms": knee["latency"]["p99_ms"],
            "cpu": knee["cpu"],
            "loadgen_bottleneck": knee["loadgen_bottleneck"],
        },
        "first_failure_responses": worst or None,
        "exhausted": not worst,  # never failed: the knee is above the highest step tried
        "steps": sorted(steps, key=lambda s: s["responses"]),
    }
    ctx.write("throughput", out)
    return out
