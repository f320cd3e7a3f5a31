"""Per-model Prometheus series on the edge's /metrics, from the stats window's running totals
(app/edge/stats.py): responses, errors by code, cancels, tokens and a TTFT histogram.

A collector computes them at scrape time, so nothing is done per stats record beyond the window's
own merge. Counters start at this edge's start (with the window it read then), as counters do.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from app.edge.stats import StatsWindow
from app.histogram import PER_DOUBLING, upper_ms

# `le` bounds at every doubling from 1 ms to ~2 min: exact bucket bounds of the log histogram, so
# the cumulative counts are exact, not interpolated.
TTFT_BOUNDS_MS = [upper_ms(PER_DOUBLING * k) for k in range(18)]


class StatsCollector(Collector):
    def __init__(self, window: StatsWindow) -> None:
        self.window = window

    def collect(self) -> Iterator[Metric]:
        responses = CounterMetricFamily(
            "tokenrelay_model_responses", "Responses ended, per model", labels=["model"]
        )
        errors = CounterMetricFamily(
            "tokenrelay_model_errors", "Responses ended by an error, per model and code",
            labels=["model", "code"],
        )  # fmt: skip
        cancels = CounterMetricFamily(
            "tokenrelay_model_cancels", "Responses cancelled, per model", labels=["model"]
        )
        tokens = CounterMetricFamily(
            "tokenrelay_model_tokens", "Tokens the upstream counted, per model and direction",
            labels=["model", "direction"],
        )  # fmt: skip
        ttft = HistogramMetricFamily(
            "tokenrelay_model_ttft_seconds",
            "Time from a response's creation to its first text, per model",
            labels=["model"],
        )
        for model, agg in sorted(self.window.totals.items()):
            responses.add_metric([model], agg.responses)
            cancels.add_metric([model], agg.cancels)
            for code, n in sorted(agg.errors.items()):
                errors.add_metric([model, code], n)
            tokens.add_metric([model, "input"], agg.input_tokens)
            tokens.add_metric([model, "output"], agg.output_tokens)
            buckets = [(_le(bound), float(n)) for bound, n in agg.ttft.cumulative(TTFT_BOUNDS_MS)]
            buckets.append(("+Inf", float(agg.ttft.count)))
            ttft.add_metric([model], buckets, agg.ttft.sum_ms / 1000)
        yield from (responses, errors, cancels, tokens, ttft)


def _le(bound_ms: float) -> str:
    return repr(round(bound_ms / 1000, 6))
