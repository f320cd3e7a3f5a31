"""The soak's load (`soak` task): keeps `concurrency` demo responses in flight for `duration_s`,
each created with POST /v1/responses and read by one SSE reader to its end; a new one starts as
soon as one finishes. Every `tick_s` it prints what happened since the last tick."""

# One slot per in-flight response, each a plain loop (POST, GET, read to the terminal event,
# again), so the number in flight stays exact without a scheduler. Response lengths vary
# (uniform between tokens_min and tokens_max) so creations and endings spread out over time
# instead of arriving in waves. The demo model's text for T tokens is the first T pieces of
# one fixed sequence, so one Expected (for tokens_max) checks every response.

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench import sseclient
from bench.hist import Histogram
from bench.loadgen import Control
from bench.tasks.load import TERMINAL, TEXT, Expected

PROMPT = "How does a Kafka consumer group rebalance when a member leaves?"
CONNECT_RETRY_S = 10.0  # a GET may reach the edge before the response does: 404, retried
ERROR_PAUSE_S = 0.5  # after a failure a slot waits this long, so a broken stack is not hammered


class Tick:
    """Counters since the last tick."""

    def __init__(self) -> None:
        self.latency = Histogram()  # receive time minus the delta's ts, once per token
        self.tokens = self.deltas = self.started = self.completed = self.exact = 0
        self.gaps = self.mismatched = 0
        self.errors: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "deltas": self.deltas,
            "started": self.started,
            "completed": self.completed,
            "exact": self.exact,
            "gaps": self.gaps,
            "mismatched": self.mismatched,
            "errors": self.errors,
            "hist": self.latency.to_json(),
        }


class Soak:
    def __init__(self, spec: dict[str, Any], expected: Expected) -> None:
        self.host, self.port = spec["host"], int(spec["port"])
        self.rate = float(spec["rate"])
        self.tokens = (int(spec["tokens_min"]), int(spec["tokens_max"]))
        self.expected = expected
        self.tick = Tick()
        self.in_flight = 0
        self.rng = random.Random(spec.get("seed", 12))

    async def slot(self, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            tokens = self.rng.randint(*self.tokens)
            self.in_flight += 1
            try:
                ok = await self.one(tokens)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                self.tick.error(type(exc).__name__)
                ok = False
            finally:
                self.in_flight -= 1
            if not ok:
                await asyncio.sleep(ERROR_PAUSE_S)

    async def one(self, tokens: int) -> bool:
        body = {"model": "demo", "input": PROMPT, "params": {"tokens": tokens, "rate": self.rate}}
        status, got = await sseclient.post_json(self.host, self.port, "/v1/responses", body)
        if status != 201:
            self.tick.error(f"post_{status}")
            return False
        self.tick.started += 1
        give_up = time.monotonic() + CONNECT_RETRY_S
        while True:
            resp = await sseclient.request(self.host, self.port, "GET", got["events_url"])
            if resp.status == 200:
                break
            resp.close()
            if resp.status != 404 or time.monotonic() > give_up:
                self.tick.error(f"get_{resp.status}")
                return False
            await asyncio.sleep(0.05)
        try:
            return await self.read(resp, tokens)
        finally:
            resp.close()

    async def read(self, resp: sseclient.Response, tokens: int) -> bool:
        expected = self.expected
        last = pos = 0
        async for recv, events in resp.batches():
            tick = self.tick  # the tick may roll over between batches
            for ev in events:
                data = ev.data
                seq = data.get("seq", 0)
                if seq != last + 1:
                    tick.gaps += 1
                last = seq
                kind = data.get("type")
                if kind in TEXT:
                    text = data.get("text") or ""
                    n = expected.tokens_in(pos, text)
                    if n is None:
                        tick.mismatched += 1
                        n = len(text.split())
                    pos += len(text)
                    tick.deltas += 1
                    tick.tokens += n
                    if n:
                        tick.latency.add(recv - data["ts"], n)
                elif kind in TERMINAL:
                    tick.completed += 1
                    exact = kind == "done" and pos == expected.ends[tokens - 1]
                    tick.exact += exact
                    if kind != "done":
                        tick.error(f"ended_{kind}_{data.get('code') or ''}".rstrip("_"))
                    return exact
        self.tick.error("eof_before_end")
        return False


async def soak(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, concurrency, rate, tokens_min, tokens_max, duration_s, tick_s,
    drain_s. Prints {"event": "tick", t, in_flight, ...Tick} every tick_s; the result holds
    how many responses were still in flight after the drain."""
    expected = await Expected.build(  # the longest response's text; others are its prefixes
        {"kind": "demo", "prompt": PROMPT, "tokens": int(spec["tokens_max"])}
    )
    run = Soak(spec, expected)
    tick_s = float(spec["tick_s"])
    t0 = time.monotonic()
    stop_at = t0 + float(spec["duration_s"])
    slots = [asyncio.create_task(run.slot(stop_at)) for _ in range(int(spec["concurrency"]))]
    ticker = asyncio.create_task(_ticks(run, ctl, t0, tick_s))
    _, late = await asyncio.wait(slots, timeout=float(spec["duration_s"]) + float(spec["drain_s"]))
    for task in late:
        task.cancel()
    await asyncio.gather(*slots, return_exceptions=True)
    ticker.cancel()
    await asyncio.gather(ticker, return_exceptions=True)
    ctl.emit("tick", t=round(time.monotonic() - t0, 2), in_flight=run.in_flight, **_roll(run))
    return {"unfinished": len(late)}


async def _ticks(run: Soak, ctl: Control, t0: float, tick_s: float) -> None:
    n = 1
    while True:
        await asyncio.sleep(max(0.0, t0 + n * tick_s - time.monotonic()))
        ctl.emit("tick", t=round(time.monotonic() - t0, 2), in_flight=run.in_flight, **_roll(run))
        n += 1


def _roll(run: Soak) -> dict[str, Any]:
    done, run.tick = run.tick, Tick()
    return done.to_json()
