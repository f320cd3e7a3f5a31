"""The worker's Prometheus metrics, served on a port of its own (`TOKENRELAY_WORKER_METRICS_PORT`,
0: none): responses ended (by type and error code), time to first token, text pieces written,
running responses, what the watchdog and the persist agent did, and the process itself.

Nothing here is on the per-token path: a response is counted once, when its writer ends it
(Publisher.on_finished gets its summary), and the agents' own counts are read at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from app.settings import Settings

log = logging.getLogger(__name__)
# Time to first token, seconds: the demo model's first token is milliseconds; real models' 0.2-10 s.
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(standard)
        self.ended = Counter(
            "tokenrelay_worker_responses_ended",
            "Responses this worker's writers ended, by terminal type and error code",
            ["type", "code"],
            registry=r,
        )
        self.ttft = Histogram(
            "tokenrelay_worker_first_token_seconds",
            "From a response's creation to its first text written to Kafka",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.pieces = Counter(
            "tokenrelay_worker_text_pieces",
            "Text pieces the models gave (a delta event may carry several)",
            registry=r,
        )
        self.running = Gauge(
            "tokenrelay_worker_responses_running", "Responses generating on this worker",
            registry=r,
        )  # fmt: skip

    def on_finished(self, type: str, summary: Mapping[str, Any]) -> None:
        """A writer ended a response (ResponseWriter's terminal record's summary)."""
        self.ended.labels(type, str(summary.get("code") or "")).inc()
        ttft_ms = summary.get("ttft_ms")
        if isinstance(ttft_ms, int | float):
            self.ttft.observe(ttft_ms / 1000)
        pieces = summary.get("pieces")
        if isinstance(pieces, int) and pieces > 0:
            self.pieces.inc(pieces)

    def counts(self, name: str, doc: str, source: Callable[[], Mapping[str, int]]) -> None:
        """Expose an agent's own counts dict as the counter `name` with a `what` label."""
        self.registry.register(_Counts(name, doc, source))

    def serve(self, settings: Settings) -> None:
        if settings.worker_metrics_port:
            start_http_server(
                settings.worker_metrics_port, settings.worker_metrics_host, self.registry
            )
            log.warning(
                "worker metrics at http://%s:%d/metrics",
                settings.worker_metrics_host, settings.worker_metrics_port,
            )  # fmt: skip


class _Counts(Collector):
    def __init__(self, name: str, doc: str, source: Callable[[], Mapping[str, int]]) -> None:
        self.name, self.doc, self.source = name, doc, source

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.doc, labels=["what"])
        for what, n in sorted(self.source().items()):
            family.add_metric([what], n)
        yield family
