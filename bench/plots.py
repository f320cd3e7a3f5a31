"""PNG plots beside the results: latency CDFs (one panel per load, one line per system) and
tokenrelay's throughput against offered load. matplotlib is imported here only, so the smoke
run and `make test` never need it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.hist import Histogram

COLOURS = {
    "tokenrelay": "#1f77b4",
    "tokenrelay-sdk": "#17becf",
    "baseline": "#7f7f7f",
    "peer": "#d62728",
}


def write(out: Path, results: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    written = []
    if "latency" in results:
        written.append(
            _cdfs(
                out / "latency_cdf.png",
                results["latency"]["runs"],
                "responses",
                "concurrent responses, one reader each",
            )
        )
    if "fanout" in results:
        written.append(
            _cdfs(
                out / "fanout_cdf.png",
                results["fanout"]["runs"],
                "readers",
                "readers of one response",
            )
        )
    if "throughput" in results and any("error" not in s for s in results["throughput"]["steps"]):
        written.append(_throughput(out / "throughput.png", results["throughput"]))
    return written


def _cdfs(path: Path, runs: list[dict[str, Any]], key: str, what: str) -> Path:
    import matplotlib.pyplot as plt

    loads = sorted({r[key] for r in runs})
    fig, axes = plt.subplots(1, len(loads), figsize=(5 * len(loads), 4), squeeze=False)
    for ax, load in zip(axes[0], loads, strict=True):
        for r in runs:
            if r[key] != load or not r.get("hist"):
                continue
            points = Histogram.from_json(r["hist"]).cdf()
            ax.step(
                [p[0] for p in points],
                [p[1] for p in points],
                where="post",
                color=COLOURS.get(r["system"]),
                label=_label(r),
            )
        ax.set_xscale("log")
        ax.set_xlabel("added latency (ms, log scale)")
        ax.set_title(f"{load} {what}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.axhline(0.99, color="black", lw=0.6, ls=":")
        ax.legend(fontsize=8, loc="lower right")
    axes[0][0].set_ylabel("fraction of tokens")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label(r: dict[str, Any]) -> str:
    p99 = r["latency"]["p99_ms"]
    return f"{r['system']} (p99 {p99:.1f} ms)" if p99 is not None else r["system"]


def _throughput(path: Path, data: dict[str, Any]) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    steps = [s for s in data["steps"] if "error" not in s]
    offered = [s["offered_tokens_s"] for s in steps]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(
        offered,
        [s["delivered_tokens_s"] for s in steps],
        "o-",
        color=COLOURS["tokenrelay"],
        label="delivered tokens/s",
    )
    ax.plot(offered, offered, ":", color="grey", label="offered (ideal)")
    ax.set_xlabel("offered tokens/s (responses × 30 tokens/s)")
    ax.set_ylabel("delivered tokens/s in the window")
    right = ax.twinx()
    right.plot(
        offered,
        [s["latency"]["p99_ms"] or float("nan") for s in steps],
        "s--",
        color="#ff7f0e",
        label="p99 added latency",
    )
    right.axhline(data["p99_limit_ms"], color="#ff7f0e", lw=0.8, ls=":")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    right.set_ylabel("p99 added latency (ms, log scale)")
    knee = data.get("knee")
    title = "tokenrelay throughput"
    if knee:
        title += (
            f": knee {'≥ ' if data['exhausted'] else ''}"
            f"{knee['delivered_tokens_s']:,.0f} tokens/s at p99 < "
            f"{data['p99_limit_ms']:g} ms"
        )
    ax.set_title(title, fontsize=10)
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
