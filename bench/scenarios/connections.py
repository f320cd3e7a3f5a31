"""Connections: how many idle SSE readers one edge process holds, and its resident memory per
connection, opened from source addresses across 127.0.0.0/8 so ephemeral ports never run short."""

# Readers spread over 100 open responses that already have an event, so a new reader is served
# from the edge's ring and then waits.

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import cpu
from bench.context import Context
from bench.loadproc import LoadProc
from bench.systems import TEXT

RESPONSES = 100
SOURCE_ADDRS = [f"127.0.0.{i}" for i in range(1, 9)]
CONCURRENCY = 200
SETTLE_S = 2.0
KEEPALIVE_S = 20.0


async def run(ctx: Context) -> dict[str, Any]:
    stack = ctx.tokenrelay
    assert stack.edge is not None
    count = ctx.mode.connections
    rids = [f"{ctx.label('idle')}-{i}" for i in range(min(RESPONSES, count))]
    # A token now, then one every KEEPALIVE_S and no end, until this scenario is over: the
    # responses stay open (the worker ends one silent for TOKENRELAY_RESPONSE_IDLE_TIMEOUT_S),
    # so their readers stay connected and nearly idle.
    producer = LoadProc(
        ctx.children,
        f"{rids[0]}-produce",
        {
            "task": "produce",
            "kafka": stack.kafka,
            "topic_prefix": stack.settings.topic_prefix,
            "rids": rids,
            "tokens": 100_000,
            "rate": 1 / KEEPALIVE_S,
            "text": TEXT,
            "window": [0, 0],
            "no_done": True,
            "burst": True,
        },
    )
    try:
        await producer.start()
        await producer.expect("ready", 120)
        producer.send({"start_at": time.time() * 1000})
        return await _hold(ctx, rids, count)
    finally:
        producer.kill()


async def _hold(ctx: Context, rids: list[str], count: int) -> dict[str, Any]:
    stack = ctx.tokenrelay
    assert stack.edge is not None
    await asyncio.sleep(SETTLE_S)  # every response has its first event in the edge's ring
    edge_pid = stack.edge.pid
    rss_before = cpu.rss_bytes(edge_pid)
    lp = LoadProc(
        ctx.children,
        f"{rids[0]}-conns",
        {
            "task": "connections",
            "host": "127.0.0.1",
            "port": stack.port,
            "paths": [f"/v1/responses/{rid}/events" for rid in rids],
            "count": count,
            "concurrency": CONCURRENCY,
            "source_addrs": SOURCE_ADDRS,
            "hold_s": 120,
            "connect_timeout_s": 60,
        },
    )
    await lp.start()
    opening = cpu.Window({"edge": edge_pid, "loadgen": lp.pid})
    opening.begin()
    held = await lp.expect("held", 60 + count / 50)
    open_cpu = opening.end()
    await asyncio.sleep(SETTLE_S)
    rss_held = cpu.rss_bytes(edge_pid)
    idle = cpu.Window({"edge": edge_pid, "loadgen": lp.pid})
    idle.begin()
    await asyncio.sleep(SETTLE_S)
    idle_cpu = idle.end()
    lp.send({"release": True})
    result = await lp.result(120)
    opened = result["opened"]
    out = {
        "requested": count,
        "opened": opened,
        "still_open_at_release": result["still_open"],
        "open_s": held["open_s"],
        "opens_per_s": round(opened / held["open_s"], 1) if held["open_s"] else None,
        "open_cpu": open_cpu,
        "loadgen_bottleneck": open_cpu.get("loadgen", {}).get("cpu_pct", 0) >= 85,
        "errors": result["errors"],
        "edge_rss_mb_before": round(rss_before / 2**20, 1),
        "edge_rss_mb_held": round(rss_held / 2**20, 1),
        "edge_rss_kb_per_connection": round((rss_held - rss_before) / 1024 / opened, 1)
        if opened
        else None,
        "idle_cpu": idle_cpu,
        "keepalive_s": KEEPALIVE_S,
        "heartbeat_s": stack.settings.heartbeat_s,
    }
    ctx.log(
        f"connections: {opened}/{count} open in {held['open_s']}s, "
        f"{out['edge_rss_kb_per_connection']} KiB each, "
        f"{result['still_open']} still open at release"
    )
    ctx.write("connections", out)
    return out
