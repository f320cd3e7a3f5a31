"""bench/results/README.md: the run's numbers as tables, tokenrelay beside the baseline and the
peer (absolute, and as ratios measured in the same run), the machine, and the profile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import tables
from bench.config import Mode
from bench.tables import ms

HOW = {
    "full": "`make bench` (mode **full**)",
    "quick": "`make bench QUICK=1` (mode **quick**: shorter runs, smaller loads — "
             "`make bench` runs the full set)",
    "smoke": "the harness's smoke test (mode **smoke**: toy sizes, numbers meaningless)",
}


def write(out: Path, mode: Mode, info: dict[str, Any], results: dict[str, Any],
          elapsed_s: float) -> None:
    parts = [_header(mode, info, elapsed_s), _headline(results)]
    if "latency" in results:
        parts.append(tables.latency("## 1. Added latency", "responses at "
                              f"{mode.rate:g} tokens/s, one reader each", results["latency"],
                              "responses", "latency_cdf.png"))
    if "fanout" in results:
        parts.append(tables.latency("## 1b. Fan-out", "one response at "
                              f"{mode.rate:g} tokens/s, many readers", results["fanout"],
                              "readers", "fanout_cdf.png"))
    for name, render in (("throughput", tables.throughput), ("connections", tables.connections),
                         ("resume", tables.resume), ("ttft", tables.ttft),
                         ("profile", tables.profile)):
        if name in results:
            parts.append(render(results[name]))
    parts.append(_method(mode))
    (out / "README.md").write_text("\n\n".join(parts) + "\n")


def _header(mode: Mode, info: dict[str, Any], elapsed_s: float) -> str:
    pk = info["packages"]
    return f"""# Benchmark results

Produced by {HOW[mode.name]} on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the
run took {elapsed_s:.0f} s. Every component ran on this one machine as its own process,
over loopback: Kafka broker, tokenrelay worker and edge, the baseline server, Redis and the
peer's two Node processes, and the load generators.

| machine | |
|---|---|
| CPU | {info['cpu_model']}, {info['cores']} cores |
| memory | {info['ram_gib']} GiB |
| kernel / Python | Linux {info['kernel']} / {info['python']} |
| Kafka / Java | {info['kafka']} / {info['java']} |
| aiokafka · faust-streaming · starlette · sse-starlette · uvicorn · uvloop | \
{pk.get('aiokafka')} · {pk.get('faust-streaming')} · {pk.get('starlette')} · \
{pk.get('sse-starlette')} · {pk.get('uvicorn')} · {pk.get('uvloop')} |
| peer | resumable-stream {info['resumable_stream']}, Node {info['node']}, {info['redis']} |
| load average at start | {' / '.join(str(x) for x in info['load_avg_at_start'])} \
(1 / 5 / 15 min; above {info['cores']} means other work shared the CPUs) |

Each load run warms up for {mode.warmup_s:g} s, then records {mode.duration_s:g} s. Added
latency is, for every delta, the reader's receive time minus the `ts` its producer stamped
(same host, same clock). CPU is % of one core over the recorded window (200 % = both cores)."""


def _headline(results: dict[str, Any]) -> str:
    rows = ["## At a glance", "", "| | tokenrelay | baseline | peer |", "|---|---|---|---|"]

    def lat(runs: list[dict[str, Any]], system: str) -> str:
        r = next((x for x in runs if x["system"] == system and "error" not in x), None)
        return "–" if r is None else \
            f"{ms(r['latency']['p50_ms'])} / {ms(r['latency']['p99_ms'])} ms"

    for name, key, pick, what in (("latency", "responses", min, "responses, one reader each"),
                                  ("fanout", "readers", max, "readers of one response")):
        runs = results.get(name, {}).get("runs", [])
        if runs:
            n = pick(r[key] for r in runs)
            chosen = [r for r in runs if r[key] == n]
            rows.append(f"| added latency p50 / p99, {n} {what} | "
                        + " | ".join(lat(chosen, s) for s in ("tokenrelay", "baseline", "peer"))
                        + " |")
    knee = results.get("throughput", {}).get("knee")
    if "throughput" in results:
        more = "≥ " if results["throughput"]["exhausted"] else ""
        rows.append("| throughput at p99 < 100 ms | "
                    + (f"{more}{knee['delivered_events_s']:.0f} events/s" if knee else "–")
                    + " | not stepped | not stepped |")
    if "connections" in results:
        c = results["connections"]
        rows.append(f"| idle connections on one edge, RSS each | {c['opened']}, "
                    f"{c['edge_rss_kb_per_connection']} KiB | – | – |")
    if "resume" in results:
        rec = results["resume"]["reconnect"]
        rows.append("| reconnect → first missed event, p50 | "
                    + " | ".join(ms(rec.get(s, {}).get("ms", {}).get("p50_ms")) + " ms"
                                 if s in rec else "cannot resume"
                                 for s in ("tokenrelay", "baseline", "peer")) + " |")
    if "ttft" in results:
        t = results["ttft"]["systems"]
        rows.append("| time-to-first-token overhead, p50 | "
                    + " | ".join(ms(t[s]["overhead_ms"]["p50_ms"]) + " ms" if s in t else "–"
                                 for s in ("tokenrelay", "baseline", "peer")) + " |")
    return "\n".join(rows)


def _method(mode: Mode) -> str:
    return """## How to read this

- tokenrelay's tokens come from a load-generator process through the SDK (`app.producer`),
  not from the demo model, so the schedule is exact and the producer's CPU is counted apart
  from the worker's; TTFT goes through `POST /v1/responses` and the demo model.
- The baseline (bench/baseline.py) streams the same schedule from a plain Starlette endpoint;
  the peer (bench/peer/) is vercel's resumable-stream on Redis, every reader served as a resume
  through Redis pub/sub by a Node edge process, the tokens made by a Node producer process.
- "load generator CPU-bound" marks a run whose load generator used ≥ 85 % of a core: the load
  it offered or read may have been limited by it. "producer behind schedule" marks a run whose
  tokens left the producer more than 50 ms late at p99: less load was offered than planned.
  "loop lag ≥ 20 ms" marks receive times that may be late by up to that much — usually the
  host's two cores being oversubscribed.
- Before anything is recorded, tokenrelay carries an unrecorded load (a fresh broker JVM is
  slow until it has compiled its hot paths); every worker start sends events through each
  partition first; an overloaded tokenrelay run is followed by a restart on fresh topics so
  its backlog does not spill into the next run.
- All processes share 2 cores, so CPU spent by one (the broker, a load generator, another
  engineer's test suite) is taken from the others; compare figures from the same run only.
- Raw numbers, histograms and per-process CPU are in the JSON files beside this one."""
