"""Traffic: `produce` publishes tokenrelay responses with the SDK on an exact schedule; `read`
holds SSE readers and records, for every delta, receive time minus the writer's `ts`, and how
many tokens it carried."""

# Counting tokens. The writer may coalesce several tokens into one delta, so a reader counts
# tokens, not events: it knows the exact text every response streams (the demo model's
# `generate(prompt, tokens=T, rate=0)`, or T copies of the load generator's token text), reads
# each delta's text at its position in that text, and counts the tokens that end inside it. A
# delta whose text is not the expected text at that position is counted as a mismatch and its
# tokens as whitespace-led words instead (the demo model's tokens are `\s*\S+` pieces).
# A delta's latency is recorded once per token it carries (the `ts` is its first piece's, so
# every token is charged the oldest piece's wait) and, apart, once per delta.

from __future__ import annotations

import asyncio
import re
import time
from bisect import bisect_right
from itertools import accumulate
from typing import Any

from bench import sseclient
from bench.hist import Histogram
from bench.loadgen import Control

TERMINAL = frozenset({"done", "error", "cancelled"})
# A view's `sentence` carries the raw text too (its `ts` is the raw event's that completed it).
TEXT = frozenset({"delta", "sentence"})
CONNECT_CONCURRENCY = 100
WORD = re.compile(r"\s*\S+")


async def produce(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: kafka, topic_prefix, rids, tokens, rate (<= 0: flat out), text, window [from, to]
    in s after the start, no_done (leave the responses open), burst (every response's first
    token at the start), separate (one event per token: wait for each to be stored before the
    next, so nothing is coalesced). Token i of response j is due at
    start + (i * n + j) / (rate * n)."""
    from app.producer import Publisher
    from app.settings import Settings

    separate = bool(spec.get("separate"))
    settings = Settings(
        kafka=spec["kafka"],
        topic_prefix=spec["topic_prefix"],
        **({"writer_linger_ms": 0.0} if separate else {}),
    )
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
            elif k % 200 == 0 and not separate:
                await asyncio.sleep(0)
            writer = writers[k % n]
            await writer.delta(text)
            if separate:
                await writer.flush()
            if k // n == tokens - 1 and not spec.get("no_done"):
                finishing.append(asyncio.create_task(writer.done()))
        await asyncio.gather(*finishing, *(w.flush() for w in writers))
        await meter  # the schedule ends with the window, so this returns at once
    return {"sent": total, "responses": n, "lateness": lateness.summary()}


class Expected:
    """The text every stream of a run carries, and where each of its tokens ends in it."""

    def __init__(self, pieces: list[str]) -> None:
        self.full = "".join(pieces)
        self.ends = list(accumulate(len(p) for p in pieces))
        self.tokens = len(pieces)

    @classmethod
    async def build(cls, spec: dict[str, Any]) -> Expected:
        tokens = int(spec["tokens"])
        if spec["kind"] == "demo":
            from agents.models.demo import generate

            return cls([t async for t in generate(spec["prompt"], tokens=tokens, rate=0)])
        return cls([spec["text"]] * tokens)

    def tokens_in(self, pos: int, text: str) -> int | None:
        """How many tokens end inside a delta's `text` read at `pos` in the full text, or None
        when the text there is not `text` (a mismatch)."""
        end = pos + len(text)
        if self.full[pos:end] != text:
            return None
        return bisect_right(self.ends, end) - bisect_right(self.ends, pos)


class ReadStats:
    def __init__(self, expected: Expected, rate: float) -> None:
        self.expected, self.rate = expected, rate
        self.tokens = Histogram()  # one sample per token
        self.deltas = Histogram()  # one sample per delta event
        self.schedule = Histogram()  # ts minus when the delta's first token was due
        self.first = Histogram()  # a stream's first delta: ts minus when it was due
        # Each stream's first delta's ts minus its due_ms, until the start is known: a reader
        # can get its first token before this process hears the start time (a loaded machine),
        # and measured against 0 it came out ~1.8e12 ms late.
        self.firsts: list[float] = []
        self.window = (float("inf"), float("inf"))
        self.start_at = 0.0
        self.delta_events = self.token_count = 0
        self.in_window_deltas = self.in_window_tokens = 0
        self.completed = self.exact = self.gaps = self.mismatched = 0
        self.connected = self.failed = 0
        self.errors: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def read(spec: dict[str, Any], ctl: Control) -> dict[str, Any]:
    """spec: host, port, readers [{path, headers, due_ms}], expect {kind: demo|text, tokens,
    prompt | text}, rate, window [from, to] and deadline in s after the start,
    connect_timeout_s. Each reader reads to its terminal event or the deadline. `due_ms`: when
    the reader's stream's first token is due, in ms after the start."""
    stats = ReadStats(await Expected.build(spec["expect"]), float(spec["rate"]))
    host, port = spec["host"], int(spec["port"])
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    give_up = time.monotonic() + float(spec["connect_timeout_s"])
    opened = await asyncio.gather(
        *(
            _connect(host, port, r["path"], r.get("headers"), limit, give_up, stats)
            for r in spec["readers"]
        )
    )
    stats.connected = sum(1 for r in opened if r is not None)
    stats.failed = len(opened) - stats.connected
    # Readers start consuming at once so nothing backs up in the socket while others connect.
    consumers = [
        asyncio.create_task(_consume(r, stats, spec["readers"][i].get("due_ms")))
        for i, r in enumerate(opened)
        if r is not None
    ]
    start_at = await ctl.ready(connected=stats.connected, failed=stats.failed)
    w0, w1 = spec["window"]
    stats.start_at = start_at
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
    for first in stats.firsts:
        stats.first.add(max(0.0, first - stats.start_at))
    return {
        "readers": len(opened),
        "connected": stats.connected,
        "failed": stats.failed,
        "completed": stats.completed,
        "exact": stats.exact,
        "deltas": stats.delta_events,
        "tokens": stats.token_count,
        "tokens_expected": stats.expected.tokens * len(opened),
        "in_window_deltas": stats.in_window_deltas,
        "in_window_tokens": stats.in_window_tokens,
        "gaps": stats.gaps,
        "mismatched": stats.mismatched,
        "errors": stats.errors,
        "latency": stats.tokens.summary(),
        "hist": stats.tokens.to_json(),
        "delta_hist": stats.deltas.to_json(),
        "schedule_hist": stats.schedule.to_json(),
        "first_hist": stats.first.to_json(),
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


async def _consume(resp: sseclient.Response, stats: ReadStats, due_ms: float | None) -> None:
    expected = stats.expected
    per_token_ms = 1000.0 / stats.rate if stats.rate > 0 else 0.0
    last = pos = count = 0
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
                if kind in TEXT:
                    text = data.get("text") or ""
                    first, n = count, expected.tokens_in(pos, text)  # tokens before it, in it
                    if n is None:
                        stats.mismatched += 1
                        n = len(WORD.findall(text))
                    if not count and due_ms is not None:
                        stats.firsts.append(data["ts"] - due_ms)
                    pos, count = pos + len(text), count + n
                    stats.delta_events += 1
                    stats.token_count += n
                    ts = data["ts"]
                    if w0 <= ts < w1:
                        ms = recv - ts
                        stats.deltas.add(ms)
                        stats.in_window_deltas += 1
                        if n:
                            stats.tokens.add(ms, n)
                            stats.in_window_tokens += n
                        if due_ms is not None:
                            due = stats.start_at + due_ms + first * per_token_ms
                            stats.schedule.add(max(0.0, ts - due))
                elif kind in TERMINAL:
                    stats.completed += 1
                    stats.exact += count == expected.tokens and pos == len(expected.full)
                    return
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.error(type(exc).__name__)
