"""Single-client timings: idle connections held, reconnect-to-first-missed-event, replay of a
whole response, and time to first token. Each is bounded by its spec's count and time-out."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench import sseclient
from bench.hist import Histogram
from bench.loadgen import Control
from bench.tasks.load import TERMINAL


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def connections(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, paths, count, concurrency, source_addrs, hold_s, connect_timeout_s.
    Opens `count` SSE connections (each until its first event), holds them, says "held"."""
    host, port, paths, addrs = spec["host"], int(spec["port"]), spec["paths"], spec["source_addrs"]
    limit = asyncio.Semaphore(int(spec["concurrency"]))
    errors: dict[str, int] = {}

    async def open_one(i: int) -> sseclient.Response | None:
        async with limit:
            try:
                async with asyncio.timeout(float(spec["connect_timeout_s"])):
                    source = (addrs[i % len(addrs)], 0)
                    resp = await sseclient.request(
                        host, port, "GET", paths[i % len(paths)], local_addr=source
                    )
                    if resp.status != 200:
                        resp.close()
                        errors[f"http_{resp.status}"] = errors.get(f"http_{resp.status}", 0) + 1
                        return None
                    await anext(resp.batches())  # the first event: the stream is really live
                    return resp
            except (OSError, TimeoutError, StopAsyncIteration, asyncio.IncompleteReadError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return None

    t0 = time.monotonic()
    opened = [r for r in await asyncio.gather(*(open_one(i) for i in range(spec["count"]))) if r]
    open_s = time.monotonic() - t0
    # Keep reading (heartbeats) so the edge sees live clients, not stalled ones.
    readers = [asyncio.create_task(_drain(r)) for r in opened]
    ctl.emit("held", open=len(opened), failed=spec["count"] - len(opened), open_s=round(open_s, 2))
    await ctl.wait_line(float(spec["hold_s"]))
    still_open = sum(1 for t in readers if not t.done())
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for r in opened:
        r.close()
    return {
        "requested": spec["count"],
        "opened": len(opened),
        "still_open": still_open,
        "open_s": round(open_s, 2),
        "errors": errors,
    }


async def _drain(resp: sseclient.Response) -> None:
    try:
        async for _ in resp.batches():
            pass
    except (OSError, asyncio.IncompleteReadError):
        pass


async def resume(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, path, cursor ("last-event-id" or "skip"), reps, read_events, gap_ms,
    timeout_s. Reads a live stream in pieces: read some events, drop the connection, wait, then
    reconnect from the cursor; times reconnect start to the first missed event's arrival."""
    host, port = spec["host"], int(spec["port"])
    seq = chars = 0
    times, wrong = Histogram(), 0
    samples: list[float] = []
    async with asyncio.timeout(float(spec["timeout_s"])):
        for rep in range(int(spec["reps"]) + 1):  # the first connection is not a reconnect
            path, headers = spec["path"], {}
            if spec["cursor"] == "skip":
                path = f"{path}?skip={chars}"
            elif seq:
                headers["Last-Event-ID"] = str(seq)
            t0 = time.perf_counter()
            resp = await sseclient.request(host, port, "GET", path, headers=headers)
            if resp.status != 200:
                resp.close()
                break  # the stream is over (204) or gone
            got, first, ended = 0, None, False
            async for _, events in resp.batches():
                for ev in events:
                    if first is None:
                        first = time.perf_counter()
                        wrong += ev.seq != seq + 1
                    seq, chars, got = ev.seq, chars + ev.size, got + 1
                    ended = ev.type in TERMINAL
                    if ended or got >= int(spec["read_events"]):
                        break
                else:
                    continue
                break
            resp.close()
            if rep and first is not None:
                times.add((first - t0) * 1000)
                samples.append(_ms(first - t0))
            if ended:
                break
            await asyncio.sleep(float(spec["gap_ms"]) / 1000)
    return {
        "reconnects": times.count,
        "wrong_first_seq": wrong,
        "ms": times.summary(),
        "samples_ms": samples,
    }


async def replay(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, path, reps, timeout_s. Reads the whole stream from the start, `reps`
    times; each run times connect to first event and connect to the terminal event."""
    runs = []
    async with asyncio.timeout(float(spec["timeout_s"])):
        for _ in range(int(spec["reps"])):
            t0 = time.perf_counter()
            resp = await sseclient.request(spec["host"], int(spec["port"]), "GET", spec["path"])
            first = end = None
            count = gaps = size = last = 0
            async for _, events in resp.batches():
                first = first or time.perf_counter()
                for ev in events:
                    count, size = count + 1, size + ev.size
                    gaps += ev.seq != last + 1
                    last = ev.seq
                    if ev.type in TERMINAL:
                        end = time.perf_counter()
                if end is not None:
                    break
            resp.close()
            runs.append(
                {
                    "status": resp.status,
                    "events": count,
                    "gaps": gaps,
                    "bytes": size,
                    "first_event_ms": None if first is None else _ms(first - t0),
                    "terminal_ms": None if end is None else _ms(end - t0),
                }
            )
    return {"runs": runs}


async def ttft(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, kind ("tokenrelay" or "baseline"), reps, first_token_ms, tokens, rate.
    Times request start to the first delta, minus the model's configured first-token delay."""
    host, port, delay = spec["host"], int(spec["port"]), float(spec["first_token_ms"])
    overhead, create = Histogram(), Histogram()
    samples: list[float] = []
    async with asyncio.timeout(float(spec["timeout_s"])):
        for rep in range(int(spec["reps"])):
            t0 = time.perf_counter()
            if spec["kind"] == "tokenrelay":
                body = {
                    "model": "demo",
                    "input": "How does a Kafka consumer group rebalance?",
                    "params": {
                        "tokens": spec["tokens"],
                        "rate": spec["rate"],
                        "first_token_ms": delay,
                    },
                }
                status, created = await sseclient.post_json(host, port, "/v1/responses", body)
                if status != 201:
                    raise RuntimeError(f"POST /v1/responses: {status} {created}")
                create.add((time.perf_counter() - t0) * 1000)
                path = created["events_url"]
            else:
                path = (
                    f"/streams/ttft-{uuid.uuid4().hex[:12]}-{rep}?autostart=1"
                    f"&tokens={spec['tokens']}&rate={spec['rate']}&first_token_ms={delay}"
                )
            first = await _first_delta(host, port, path)
            ms = (first - t0) * 1000 - delay
            overhead.add(max(ms, 0.0))
            samples.append(round(ms, 3))
            await asyncio.sleep(0.05)
    return {"overhead_ms": overhead.summary(), "create_ms": create.summary(), "samples_ms": samples}


async def _first_delta(host: str, port: int, path: str) -> float:
    while True:
        resp = await sseclient.request(host, port, "GET", path)
        if resp.status == 404:  # not on this edge yet
            resp.close()
            await asyncio.sleep(0.01)
            continue
        try:
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status}")
            async for _, events in resp.batches():
                if any(ev.type == "delta" for ev in events):
                    return time.perf_counter()
            raise RuntimeError(f"GET {path}: ended without a delta")
        finally:
            resp.close()
