"""bench/results/README.md (or quick/README.md): the run's numbers as tables, tokenrelay beside
the baseline and the peer (absolute, and as ratios measured in the same run) and beside today's
figures (bench/before.py), the machine, and the profile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import before, tables
from bench.config import Mode
from bench.tables import by_size, ms, ok, pct, ratio, us

HOW = {
    "full": "`make bench` (mode **full**)",
    "quick": "`make bench QUICK=1` (mode **quick**: shorter runs, smaller loads — "
    "`make bench` runs the full set and writes bench/results/README.md)",
    "smoke": "the harness's smoke test (mode **smoke**: toy sizes, numbers meaningless)",
}


def write(
    out: Path, mode: Mode, info: dict[str, Any], results: dict[str, Any], elapsed_s: float
) -> None:
    parts = [_header(mode, info, elapsed_s), _issue(results)]
    if "latency" in results:
        parts.append(
            tables.latency(
                "## 1. Added latency",
                f"Responses at {mode.rate:g} tokens/s, one reader each.",
                results["latency"],
                "responses",
                "latency_cdf.png",
                {
                    n: b["text"] + (f" (POST, {before.POST_10['text']})" if n == 10 else "")
                    for n, b in before.LATENCY.items()
                },
            )
        )
        parts.append(tables.cpu_per_token(results["latency"], "responses"))
    if "fanout" in results:
        parts.append(
            tables.latency(
                "## 1b. Fan-out",
                f"One response at {mode.rate:g} tokens/s, many readers.",
                results["fanout"],
                "readers",
                "fanout_cdf.png",
                {1000: before.FANOUT_1000["text"]},
            )
        )
    for name, render in (
        ("throughput", tables.throughput),
        ("connections", tables.connections),
        ("resume", tables.resume),
        ("ttft", tables.ttft),
        ("views", tables.views),
        ("profile", tables.profile),
    ):
        if name in results:
            parts.append(render(results[name]))
    parts.append(_method(mode))
    (out / "README.md").write_text("\n\n".join(parts) + "\n")


def _header(mode: Mode, info: dict[str, Any], elapsed_s: float) -> str:
    pk = info["packages"]
    names = (
        "confluent-kafka",
        "aiokafka",
        "faust-streaming",
        "starlette",
        "uvicorn",
        "uvloop",
    )
    return f"""# Benchmark results

Produced by {HOW[mode.name]} on {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; the
run took {elapsed_s:.0f} s. Every component ran on this one machine as its own process,
over loopback: Kafka broker, tokenrelay worker and edge, the baseline server, Redis and the
peer's two Node processes, and the load generators.

| machine | |
|---|---|
| CPU | {info["cpu_model"]}, {info["cores"]} cores |
| memory | {info["ram_gib"]} GiB |
| kernel / Python | Linux {info["kernel"]} / {info["python"]} |
| Kafka / Java | {info["kafka"]} / {info["java"]} |
| {" · ".join(names)} | {" · ".join(str(pk.get(n)) for n in names)} |
| peer | resumable-stream {info["resumable_stream"]}, Node {info["node"]}, {info["redis"]} |
| load average at start | {" / ".join(str(x) for x in info["load_avg_at_start"])} \
(1 / 5 / 15 min; above {info["cores"]} means other work shared the CPUs) |

Each load run warms up for {mode.warmup_s:g} s, then records {mode.duration_s:g} s (throughput \
steps: {mode.throughput_duration_s:g} s). Added latency is, for every delivered token, the \
reader's receive time minus the `ts` its writer stamped (same host, same clock; a coalesced \
delta's `ts` is its first piece's, so each of its tokens is charged the oldest piece's wait). \
CPU is psutil's user + system time of each process over the recorded window."""


def _find(
    results: dict[str, Any], scenario: str, key: str, size: int, system: str
) -> dict[str, Any] | None:
    runs = results.get(scenario, {}).get("runs", [])
    return by_size(runs, key).get(size, {}).get(system)


def _p99(r: dict[str, Any] | None) -> float | None:
    return r["latency"]["p99_ms"] if r and ok(r) else None


def _load(r: dict[str, Any] | None) -> str:
    if r is None:
        return "not run in this mode"
    if not ok(r):
        return f"failed: {tables._short(r)}"
    lat = r["latency"]
    return (
        f"{r['completed']}/{r['readers']} finished, {pct(r['tokens_ratio'])} delivered, "
        f"p50 {ms(lat['p50_ms'])} / p99 {ms(lat['p99_ms'])} ms"
    )


def _met(flag: bool | None) -> str:
    return "–" if flag is None else ("**yes**" if flag else "no")


def _issue(results: dict[str, Any]) -> str:
    """Issue 8's rows: before (bench/before.py), now, the target, and whether it is met."""
    t = before.TARGETS
    rows = [
        f"## Issue 8: before and now\n\nBefore: {before.WHERE}. Targets are issue 8's; "
        "ratios are of figures from this same run. A row not run in this mode says so.\n",
        "| | before | now | target | met |",
        "|---|---|---|---|---|",
    ]

    def add(what: str, was: str, now: str, target: str, met: bool | None) -> None:
        rows.append(f"| {what} | {was} | {now} | {target} | {_met(met)} |")

    def good(r: dict[str, Any] | None, limit: float) -> bool | None:
        if r is None or not ok(r):
            return None if r is None else False
        p99 = r["latency"]["p99_ms"]
        return bool(
            r["complete"]
            and r["tokens"] == r["tokens_expected"]
            and p99 is not None
            and p99 <= limit
        )

    for n, limit in ((500, t["p99_500_ms"]), (100, None), (10, t["p99_10_ms"])):
        for system, label in (("tokenrelay", "POST, demo model"), ("tokenrelay-sdk", "SDK")):
            r = _find(results, "latency", "responses", n, system)
            was = before.LATENCY[n]["text"]
            if n == 10 and system == "tokenrelay":
                was = before.POST_10["text"]
            target = "every reader finishes, 100 % delivered" + (
                f", p99 ≤ {limit:g} ms" if limit else ""
            )
            add(
                f"{n} responses × 30 tokens/s ({label})",
                was,
                _load(r),
                target,
                good(r, limit if limit else float("inf")),
            )
    peer = _find(results, "latency", "responses", 500, "peer")
    for system, label in (("tokenrelay", "POST"), ("tokenrelay-sdk", "SDK")):
        r = _find(results, "latency", "responses", 500, system)
        p99s = (_p99(r), _p99(peer))
        met = None if None in p99s else p99s[0] / p99s[1] <= t["vs_peer"]  # type: ignore[operator]
        add(
            f"p99 at 500 × 30, tokenrelay ({label}) ÷ peer",
            "– (0 delivered)",
            f"{ms(p99s[0])} ÷ {ms(p99s[1])} ms = {ratio(*p99s)}" if r else "not run in this mode",
            f"≤ {t['vs_peer']:g}×",
            met,
        )
    for system, label in (("tokenrelay", "POST"), ("tokenrelay-sdk", "SDK")):
        r = _find(results, "latency", "responses", 500, system)
        sums = (
            r.get("cpu_us_per_token_server") if r and ok(r) else None,
            peer.get("cpu_us_per_token_server") if peer and ok(peer) else None,
        )
        met = None if None in sums else sums[0] / sums[1] <= t["vs_peer"]  # type: ignore[operator]
        add(
            f"server CPU per delivered token at 500 × 30, tokenrelay ({label}) ÷ peer",
            f"{before.KNEE_CPU_US_TEXT} at the knee ÷ ~{before.PEER_CPU_US_500:g} µs",
            f"{us(sums[0])} ÷ {us(sums[1])} µs = {ratio(*sums)}" if r else "not run in this mode",
            f"≤ {t['vs_peer']:g}×",
            met,
        )
    if "throughput" in results:
        thr = results["throughput"]
        knee = thr["knee"]
        now = (
            "no step passed"
            if knee is None
            else (
                f"{'≥ ' if thr['exhausted'] else ''}{knee['delivered_tokens_s']:,.0f} tokens/s, "
                f"{us(knee['cpu_us_per_token_server'])} µs/token (server side)"
            )
        )
        add(
            "throughput knee (p99 < 100 ms, ≥ 95 % delivered, every reader finished)",
            f"{before.KNEE_TOKENS_S:,.0f} tokens/s, {before.KNEE_CPU_US_TEXT}/token",
            now,
            f"≥ {t['knee_tokens_s']:,.0f} tokens/s",
            knee is not None and knee["delivered_tokens_s"] >= t["knee_tokens_s"],
        )
    fan = _find(results, "fanout", "readers", 1000, "tokenrelay")
    base = _find(results, "fanout", "readers", 1000, "baseline")
    p99s = (_p99(fan), _p99(base))
    add(
        "1,000 readers of one response",
        before.FANOUT_1000["text"],
        _load(fan) + (f" (baseline p99 {ms(p99s[1])} ms)" if p99s[1] is not None else ""),
        "every reader finishes, p99 ≤ the baseline's p99",
        None if None in p99s else good(fan, p99s[1]),
    )  # type: ignore[arg-type]
    if "resume" in results:
        d = results["resume"]
        replay = tables.replay_median(d["replay"], "tokenrelay")
        add(
            f"replay of a finished response from seq 0 ({d['replay_events']:,} events)",
            f"{before.REPLAY_10000_MS:g} ms (10,000 events)",
            f"{ms(replay)} ms",
            f"≤ {t['replay_ms']:g} ms (10,000 events)",
            None if replay is None or d["replay_events"] < 10_000 else replay <= t["replay_ms"],
        )
    if "ttft" in results:
        tt = results["ttft"]["systems"].get("tokenrelay", {}).get("overhead_ms", {})
        p50 = tt.get("p50_ms")
        add(
            "time-to-first-token overhead, p50",
            f"{before.TTFT_P50_MS:g} ms",
            f"{ms(p50)} ms",
            f"≤ {t['ttft_p50_ms']:g} ms",
            None if p50 is None else p50 <= t["ttft_p50_ms"],
        )
    if "connections" in results:
        c = results["connections"]
        kib = c["edge_rss_kb_per_connection"]
        add(
            "idle SSE connections on one edge",
            f"10,000 at {before.IDLE_CONNECTION_KIB} KiB each",
            f"{c['opened']:,} of {c['requested']:,} at {kib} KiB each",
            f"10,000 at ≤ {t['idle_kib']:g} KiB each",
            None
            if kib is None or c["requested"] < 10_000
            else c["opened"] == c["requested"] and kib <= t["idle_kib"],
        )
    return "\n".join(rows)


def _method(mode: Mode) -> str:
    return f"""## How to read this

- **tokenrelay (POST, demo model)** is the product's own path: every response is created with
  `POST /v1/responses` (`model: demo`, `params: tokens, rate 30, first_token_ms`), the worker's
  demo model makes the tokens and its writer publishes them to `<prefix>.events`; readers
  `GET /v1/responses/{{id}}/events`. Each response's `first_token_ms` puts its first token at
  the run's start (plus its slot in the schedule, as on every system), late enough that every
  reader is connected first; the worker runs with `generation_concurrency` 2048 so that its
  limit of concurrent model calls does not queue them. **tokenrelay (SDK)**: a load-generator
  process publishes the same schedule with `app.producer.Publisher`; the worker is not on that
  path, the producer's CPU is counted as part of the system.
- **Tokens, not events.** The writer may coalesce several tokens into one delta, so readers
  count tokens: each knows the exact text its stream carries (the demo model's output for the
  prompt, or the load generator's `" token"` repeated) and counts the tokens that end inside
  each delta's text at its position; "tokens delivered (all)" is every token of every response
  that reached its reader, "in window" the tokens whose delta's `ts` fell in the recorded
  window (against responses × 30 × the window: keeping up). A delta whose text is not the
  expected text is flagged and its tokens counted as whitespace-led words.
- **CPU per delivered token** is each process's CPU time over the recorded window divided by
  the tokens delivered in it; the server-side sum is the figure compared with the peer.
- The baseline (bench/baseline.py) streams the same schedule from a plain Starlette endpoint;
  the peer (bench/peer/) is vercel's resumable-stream on Redis, every reader served as a resume
  through Redis pub/sub by a Node edge process, the tokens made by a Node producer process.
- "load generator CPU-bound" marks a run whose load generator used ≥ 85 % of a core.
  "tokens written behind schedule" marks a run whose tokens were written more than 50 ms after
  they were due at p99 (the SDK producer's own figure; on the POST path, `ts` against the
  schedule, which includes the request's way to the worker): less load was offered than
  planned. "loop lag ≥ 20 ms" marks receive times that may be late by up to that much.
- Before anything is recorded, tokenrelay carries an unrecorded load on the POST path (a fresh
  broker JVM is slow until it has compiled its hot paths); every (re)start of the worker and
  edge is checked with one demo response end to end; an overloaded tokenrelay run is followed
  by a restart on fresh topics so its backlog does not spill into the next run.
- "before" figures are constants in bench/before.py ({before.WHERE}).
- All processes share the machine's cores, so CPU spent by one (the broker, a load
  generator, another engineer's test suite) is taken from the others; compare figures from the
  same run only.
- Raw numbers, histograms and per-process CPU are in the JSON files beside this one."""
