"""Traffic: `produce` publishes tokenrelay responses with the SDK on an exact schedule; `read`
holds SSE readers and records, for every delta, receive time minus the producer's `ts`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import sseclient
from bench.hist import Histogram
from bench.loadgen import Control

TERMINAL = frozenset({"done", "error", "cancelled"})
CONNECT_CONCURRENCY = 100


async def produce(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: kafka, topic_prefix, rids, tokens, rate (<= 0: flat out), text, window [from, to]
    in s after the start, no_done (leave the responses open), burst (every response's first
    token at the start). Token i of response j is due at start + (i * n + j) / (rate * n)."""
    from app.producer import Publisher
    from app.settings import Settings

    settings = Settings(kafka=spec["kafka"], topic_prefix=spec["topic_prefix"])
    rids, tokens, rate, text = spec["rids"], int(spec["tokens"]), float(spec["rate"]), spec["text"]
    burst = bool(spec.get("burst"))
    lateness = Histogram()
    async with Publisher(settings) as publisher:
        writers = [publisher.response(rid) for rid in rids]
        await asyncio.gather(*(w.open() for w in writers))
        start_at = await ctl.ready(opened=len(writers))
        w0, w1 = spec["window"]
        meter = asyncio.create_task(ctl.measure(start_at + w0 * 1000, start_at + w1 * 1000))
        n, total, finishing = len(writers), tokens * len(writers), []
        start = time.monotonic() + (start_at / 1000 - time.time())
        for k in range(total):
            if rate > 0:
                due = start if k < n and burst else start + k / (rate * n)
                wait = due - time.monotonic()
                if wait > 0.0005:
                    await asyncio.sleep(wait)
                lateness.add(max(0.0, (time.monotonic() - due) * 1000))
            elif k % 200 == 0:
                await asyncio.sleep(0)
            writer = writers[k % n]
            await writer.delta(text)
            if k // n == tokens - 1 and not spec.get("no_done"):
                finishing.append(asyncio.create_task(writer.done()))
        await asyncio.gather(*finishing, *(w.flush() for w in writers))
        await meter  # the schedule ends with the window, so this returns at once
    return {"sent": total, "responses": n, "lateness": lateness.summary()}


class ReadStats:
    def __init__(self) -> None:
        self.hist = Histogram()
        self.window = (float("inf"), float("inf"))
        self.deltas = self.in_window = self.completed = self.gaps = 0
        self.connected = self.failed = 0
        self.errors: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def read(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, readers [{path, headers}], window [from, to] and deadline in s after the
    start, connect_timeout_s. Each reader reads to its terminal event or the deadline."""
    stats = ReadStats()
    host, port = spec["host"], int(spec["port"])
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    give_up = time.monotonic() + float(spec["connect_timeout_s"])
    opened = await asyncio.gather(
        *(_connect(host, port, r["path"], r.get("headers"), limit, give_up, stats)
          for r in spec["readers"])
    )
    stats.connected = sum(1 for r in opened if r is not None)
    stats.failed = len(opened) - stats.connected
    # Readers start consuming at once so nothing backs up in the socket while others connect.
    consumers = [asyncio.create_task(_consume(r, stats)) for r in opened if r is not None]
    start_at = await ctl.ready(connected=stats.connected, failed=stats.failed)
    w0, w1 = spec["window"]
    stats.window = (start_at + w0 * 1000, start_at + w1 * 1000)
    meter = asyncio.create_task(ctl.measure(*stats.window))
    deadline_s = start_at / 1000 + float(spec["deadline"]) - time.time()
    if consumers:
        _, late = await asyncio.wait(consumers, timeout=max(0.0, deadline_s))
        for task in late:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
    for r in opened:
        if r is not None:
            r.close()
    await meter
    return {
        "readers": len(opened),
        "connected": stats.connected,
        "failed": stats.failed,
        "completed": stats.completed,
        "deltas": stats.deltas,
        "in_window": stats.in_window,
        "gaps": stats.gaps,
        "errors": stats.errors,
        "latency": stats.hist.summary(),
        "hist": stats.hist.to_json(),
    }


async def _connect(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str] | None,
    limit: asyncio.Semaphore,
    give_up: float,
    stats: ReadStats,
) -> sseclient.Response | None:
    """Open one stream; a 404 (the response has not reached this server yet) is retried."""
    while True:
        async with limit:
            try:
                async with asyncio.timeout(max(0.1, give_up - time.monotonic())):
                    resp = await sseclient.request(host, port, "GET", path, headers=headers)
            except (OSError, TimeoutError) as exc:
                stats.error(type(exc).__name__)
                return None
        if resp.status == 200:
            return resp
        resp.close()
        if resp.status != 404 or time.monotonic() > give_up:
            stats.error(f"http_{resp.status}")
            return None
        await asyncio.sleep(0.05)


async def _consume(resp: sseclient.Response, stats: ReadStats) -> None:
    last = 0
    try:
        async for recv, events in resp.batches():
            w0, w1 = stats.window
            for ev in events:
                data = ev.data
                seq = data.get("seq", 0)
                if seq != last + 1:
                    stats.gaps += 1
                last = seq
                kind = data.get("type")
                if kind == "delta":
                    stats.deltas += 1
                    ts = data["ts"]
                    if w0 <= ts < w1:
                        stats.hist.add(recv - ts)
                        stats.in_window += 1
                elif kind in TERMINAL:
                    stats.completed += 1
                    return
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.error(type(exc).__name__)
