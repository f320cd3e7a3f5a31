"""The soak's verdict and its pages: per-minute table, the flatness check of RSS and open file
descriptors after warm-up, bench/results/soak.md and soak.png (matplotlib imported here only)."""

# Flat, precisely: take the samples after the warm-up and before the load stops. The baseline
# is the median of those in the first L minutes after the warm-up, the end value the median
# of those in the last L minutes of the load, L = min(3, a third of the post-warm-up time).
# A metric is flat when |end / baseline - 1| <= 5 %. Medians, because single samples swing
# with what is in flight at that instant (a reader's socket, a GC cycle); a leak moves the
# median. The least-squares slope over the whole post-warm-up span is printed beside it.

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.hist import Histogram

TOLERANCE = 0.05
WINDOW_MIN = 3.0
METRICS = {
    "edge_rss": "edge RSS",
    "worker_rss": "worker RSS",
    "edge_fds": "edge open fds",
    "worker_fds": "worker open fds",
}


def verdict(data: dict[str, Any]) -> dict[str, Any]:
    info, samples = data["info"], data["samples"]
    warm, end = info["warmup_minutes"] * 60, info["minutes"] * 60
    span = end - warm
    window = min(WINDOW_MIN * 60, span / 3)
    out: dict[str, Any] = {"window_s": window, "metrics": {}}
    for key in METRICS:
        post = [(s["t"], s[key]) for s in samples if warm <= s["t"] <= end and key in s]
        first = [v for t, v in post if t < warm + window]
        last = [v for t, v in post if t >= end - window]
        if not first or not last:
            out["metrics"][key] = {"flat": False, "why": "no samples"}
            continue
        base, final = statistics.median(first), statistics.median(last)
        change = final / base - 1 if base else float("inf")
        out["metrics"][key] = {
            "baseline": base,
            "end": final,
            "change": change,
            "max": max(v for _, v in post),
            "slope_per_10min": _slope(post) * 600 / base if base else None,
            "flat": abs(change) <= TOLERANCE,
        }
    out["flat"] = all(m["flat"] for m in out["metrics"].values())
    return out


def minutes(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per minute of the load: delivery from the load generator's ticks, memory and fds
    (median of that minute's samples)."""
    rows: dict[int, dict[str, Any]] = {}
    for tick in data["ticks"]:
        m = minute_of(tick)
        row = rows.setdefault(m, {"minute": m + 1, "hist": Histogram(), "errors": 0, "n": 0})
        if "hist" in tick:
            row["hist"].merge(Histogram.from_json(tick["hist"]))
        row["n"] += 1
        for k in ("tokens", "completed", "exact", "started", "gaps", "mismatched"):
            row[k] = row.get(k, 0) + tick[k]
        row["errors"] += sum(tick["errors"].values())
        row["seconds"] = min(60.0, tick["t"] - m * 60)
    for m, raw in data.get("minute_hists", {}).items():
        rows[int(m)]["hist"].merge(Histogram.from_json(raw))
    for m, row in rows.items():
        at = [s for s in data["samples"] if m * 60 <= s["t"] < (m + 1) * 60]
        for key in (*METRICS, "load1"):
            vals = [s[key] for s in at if key in s]
            row[key] = statistics.median(vals) if vals else None
        row["p50"], row["p99"] = row["hist"].percentile(50), row["hist"].percentile(99)
    return [rows[m] for m in sorted(rows)]


def minute_of(tick: dict[str, Any]) -> int:
    return int((tick["t"] - 1.0) // 60)  # a tick at 60.01 s covers 50-60 s: minute 0


def compact(data: dict[str, Any]) -> None:
    """Merge the ticks' latency histograms into one per minute (what the report uses): the
    JSON stays small enough to commit."""
    out: dict[str, Histogram] = {}
    for tick in data["ticks"]:
        if "hist" in tick:
            hist = Histogram.from_json(tick.pop("hist"))
            out.setdefault(str(minute_of(tick)), Histogram()).merge(hist)
    merged = data.setdefault("minute_hists", {})
    for m, hist in out.items():
        if m in merged:
            hist.merge(Histogram.from_json(merged[m]))
        merged[m] = hist.to_json()


def write_report(data: dict[str, Any], out: Path) -> bool:
    v = verdict(data)
    rows = minutes(data)
    (out / "soak.md").write_text(_markdown(data, v, rows))
    _plot(data, v, out / "soak.png")
    return bool(v["flat"])


def _markdown(data: dict[str, Any], v: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    info = data["info"]
    mach = info["machine"]
    lo, hi = info["tokens"]
    total_tokens = sum(r["tokens"] for r in rows)
    total_done = sum(r["completed"] for r in rows)
    total_exact = sum(r["exact"] for r in rows)
    total_err = sum(r["errors"] for r in rows)
    total_gaps = sum(r["gaps"] for r in rows)
    loads = [s["load1"] for s in data["samples"]]
    kinds: dict[str, int] = {}
    for tick in data["ticks"]:
        for kind, n in tick["errors"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    lines = [
        "# Soak",
        "",
        f"Produced by `make soak` (`python -m bench.soak`) from {info['started']} to "
        f"{info.get('finished', '?')}: one Kafka broker, one worker and one edge (each its "
        f"own process, over loopback), and one load-generator process keeping "
        f"**{info['responses']} demo responses in flight for {info['minutes']:g} minutes**. "
        f"Each response is created with `POST /v1/responses` (model `demo`, {info['rate']:g} "
        f"tokens/s, a length drawn uniformly from {lo} to {hi} tokens) and read by one SSE "
        "reader to its end; when one ends the next starts at once. RSS and open file "
        f"descriptors of the worker and the edge are sampled every {info['sample_s']:g} s "
        "(psutil).",
        "",
        f"Machine: {mach['cpu_model']}, {mach['cores']} cores, {mach['ram_gib']} GiB; "
        f"Python {mach['python']}, Kafka {mach['kafka']}. {_quiet(loads, mach['cores'])} "
        f"(1-minute load average during the run: median {statistics.median(loads):.1f}, "
        f"max {max(loads):.1f}, on {mach['cores']} cores).",
        "",
        _directory(info),
        "",
        "## Verdict",
        "",
        f"After a warm-up of {info['warmup_minutes']:.3g} min, the baseline of each metric "
        f"is the median of its samples in the next {v['window_s'] / 60:.3g} min and its end "
        f"value the median of its samples in the last {v['window_s'] / 60:.3g} min of the "
        f"load; flat means the end value is within ±{TOLERANCE:.0%} of the baseline. The "
        "slope is a least-squares fit over every post-warm-up sample.",
        "",
        "| metric | baseline | end | change | max after warm-up | slope per 10 min | flat |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in METRICS.items():
        m = v["metrics"][key]
        if "baseline" not in m:
            lines.append(f"| {label} | – | – | – | – | – | no ({m['why']}) |")
            continue
        fmt = _mib if key.endswith("rss") else (lambda x: f"{x:.0f}")
        slope = m["slope_per_10min"]
        lines.append(
            f"| {label} | {fmt(m['baseline'])} | {fmt(m['end'])} | {m['change']:+.1%} "
            f"| {fmt(m['max'])} | {'–' if slope is None else f'{slope:+.1%}'} "
            f"| {'**yes**' if m['flat'] else '**no**'} |"
        )
    lines += [
        "",
        f"**{'Flat' if v['flat'] else 'Not flat'}**: "
        + (
            f"edge and worker RSS and open fds stayed within ±{TOLERANCE:.0%} after warm-up."
            if v["flat"]
            else "at least one metric moved more than the tolerance (see the table)."
        ),
        "",
        f"Delivery: {total_done} responses ended ({total_exact} exact: every token, in order, "
        f"then `done`), {total_tokens:,} tokens delivered, {total_gaps} sequence gaps, "
        f"{total_err} errors{f' ({by_kind})' if by_kind else ''}; "
        f"{info.get('load_result', {}).get('unfinished', '?')} readers "
        "still open when the drain ended.",
        "",
        *_gauges(data),
        *_memtrace(data),
        "## Per minute",
        "",
        "| minute | tokens/s | responses ended | errors | p50 ms | p99 ms | edge RSS MiB "
        "| worker RSS MiB | edge fds | worker fds | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['minute']} | {r['tokens'] / max(r['seconds'], 1):,.0f} | {r['completed']} "
            f"| {r['errors']} | {_ms(r['p50'])} | {_ms(r['p99'])} | {_mib(r['edge_rss'])} "
            f"| {_mib(r['worker_rss'])} | {_int(r['edge_fds'])} | {_int(r['worker_fds'])} "
            f"| {_num(r['load1'])} |"
        )
    lines += [
        "",
        "Latency is, per delivered token, the reader's receive time minus the `ts` its writer "
        "stamped (same host and clock). The last row is the drain (no new responses).",
        "",
        "![soak](soak.png)",
        "",
    ]
    return "\n".join(lines)


GAUGES = {
    "tokenrelay_edge_connections": "open SSE streams",
    "tokenrelay_edge_tracked_responses": "responses in memory",
    "tokenrelay_edge_buffered_bytes": "bytes in rings",
    "tokenrelay_edge_directory_entries": "directory entries (bounded LRU)",
}


def _gauges(data: dict[str, Any]) -> list[str]:
    """The edge's per-response gauges at the end of warm-up, at the end of the load and after
    the quiet period: what the memory holds, and that it lets go."""
    snaps = data.get("edge_metrics", {})
    if not snaps:
        return []
    cols = [c for c in ("warm", "end", "idle") if c in snaps]
    quiet = data["info"].get("quiet_s")
    lines = [
        "The edge's own gauges (its /metrics) after the warm-up, at the end of the load"
        + (
            f", and after {quiet:.0f} s with no load (longer than it keeps a finished response)"
            if quiet
            else ""
        )
        + ":",
        "",
        "| edge gauge | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for key, label in GAUGES.items():
        vals = [snaps[c].get(key) for c in cols]
        lines.append(f"| {label} | " + " | ".join(_int(v) for v in vals) + " |")
    return [*lines, ""]


def _memtrace(data: dict[str, Any]) -> list[str]:
    """The traced edge (bench/memtrace.py): Python's own allocations after the warm-up,
    of the load and after the quiet period, and the source lines that grew the most."""
    trace = data.get("memtrace")
    if not trace:
        return []
    warm, end, idle = trace["end"]["from"], trace["end"]["to"], trace["idle"]["to"]
    lines = [
        "### What the edge's Python heap held (tracemalloc)",
        "",
        "This run's edge ran under tracemalloc (`--trace-edge`), which adds its own tables "
        "to the RSS above and slows every allocation.",
        "",
        "| | warm | end | idle |",
        "|---|---|---|---|",
        "| traced bytes (Python allocations) | "
        + " | ".join(_mib(x["traced_bytes"]) + " MiB" for x in (warm, end, idle))
        + " |",
        "| objects tracked by the gc | "
        + " | ".join(f"{x['gc_objects']:,}" for x in (warm, end, idle))
        + " |",
        "",
        "Source lines whose allocations grew most from after the warm-up to the end of the "
        "load:",
        "",
        "| where | grew by | held at end | blocks grown |",
        "|---|---|---|---|",
    ]
    for row in trace["end"]["top"][:8]:
        where = row["where"].split("site-packages/")[-1].split("/wt/soak/")[-1]
        lines.append(
            f"| `{where}` | {row['size_diff'] / 1024:+,.0f} KiB | {row['size'] / 1024:,.0f} KiB "
            f"| {row['count_diff']:+,} |"
        )
    return [*lines, ""]


def _plot(data: dict[str, Any], v: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info, samples = data["info"], data["samples"]
    warm = info["warmup_minutes"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    t = [s["t"] / 60 for s in samples]
    for ax, keys, unit, scale in (
        (axes[0], ("edge_rss", "worker_rss"), "RSS (MiB)", 2**20),
        (axes[1], ("edge_fds", "worker_fds"), "open fds", 1),
    ):
        for key in keys:
            ax.plot(t, [s.get(key, float("nan")) / scale for s in samples], label=METRICS[key])
            m = v["metrics"][key]
            if "baseline" in m:
                b = m["baseline"] / scale
                ax.axhspan(b * (1 - TOLERANCE), b * (1 + TOLERANCE), alpha=0.15)
        ax.axvline(warm, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel(unit)
        ax.legend(loc="lower right")
    rows = minutes(data)
    mid = [r["minute"] - 0.5 for r in rows]
    axes[2].plot(mid, [r["tokens"] / max(r["seconds"], 1) for r in rows], "o-", label="tokens/s")
    axes[2].set_ylabel("delivered tokens/s")
    p99 = axes[2].twinx()
    p99.plot(mid, [r["p99"] or float("nan") for r in rows], "s-", color="#d62728", label="p99")
    p99.set_ylabel("p99 ms", color="#d62728")
    axes[2].axvline(warm, color="grey", linestyle="--", linewidth=1)
    axes[2].set_xlabel("minutes (dashed: end of warm-up; bands: ±5 % of the baseline)")
    fig.suptitle(
        f"Soak: {info['responses']} responses in flight × {info['rate']:g} tokens/s, "
        f"{info['minutes']:g} min — {'flat' if v['flat'] else 'NOT flat'}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(x for _, x in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (x - mv) for t, x in points) / den if den else 0.0


def _mib(x: float | None) -> str:
    return "–" if x is None else f"{x / 2**20:.1f}"


def _ms(x: float | None) -> str:
    return "–" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def _int(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _quiet(loads: list[float], cores: int) -> str:
    # The soak's own processes (broker, worker, edge, load generator) keep a load of about
    # one per core; well past that, something else was running.
    if statistics.median(loads) > 2 * cores:
        return (
            "The machine was shared: other work ran during the soak, so latency is not a "
            "benchmark figure"
        )
    return "Nothing but the soak ran on the machine"


def _directory(info: dict[str, Any]) -> str:
    size = info.get("edge_directory_size")
    if size is None:
        return "The edge's directory of finished responses had its default size."
    return (
        f"The edge's directory of finished responses (bounded, least recently used out) was "
        f"set to {size:,} entries, so it was full before the warm-up ended: at its default "
        "of 100,000 (~360 B an entry, ~36 MB full) it would still be filling, by design, for "
        "hours at this rate."
    )
