"""The edge's Prometheus metrics, in a registry of its own (one per app, no globals); what is
cheaper to compute at scrape time than per event (lag, fan-out queues) is, in fanout_metrics.py.
docs/observability.md lists them all."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import (
    Counter,
    Gauge,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from app.prometheus import process_registry

# Delivery latency, seconds: on one machine a few ms; across hosts it includes their clock skew.
DELIVERY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.registry = r = process_registry()
        self.connections = Gauge("tokenrelay_edge_connections", "Open SSE streams", registry=r)
        self.events_in = Counter(
            "tokenrelay_edge_events_consumed", "Events read from Kafka", registry=r
        )
        self.events_out = Counter(
            "tokenrelay_edge_events_sent", "Events sent to readers", registry=r
        )
        self.overflows = Counter(
            "tokenrelay_edge_subscriber_overflows",
            "Readers moved to catch-up reads because their queue filled",
            registry=r,
        )
        self.reconnects = Counter(
            "tokenrelay_edge_readers_told_to_reconnect",
            "Streams this edge ended for their client to resume elsewhere or later, by why "
            "(no_progress: catch-up found nothing new; catchup_failed: Kafka or storage could "
            "not serve it)",
            ["reason"],
            registry=r,
        )
        self.delivery = LatencyHistogram(
            "tokenrelay_edge_delivery_latency_seconds",
            "From an event's ts (its writer's clock) to its socket write here: one observation "
            "per live write to a reader, of the oldest event in it",
            DELIVERY_BUCKETS,
        )
        r.register(self.delivery)
        self.catchup_reads = Counter(
            "tokenrelay_edge_catchup_reads", "Catch-up reads served from Kafka", registry=r
        )
        self.undecodable = Counter(
            "tokenrelay_edge_undecodable",
            "Undecodable records this edge read (events, views, index: skipped, dead-lettered)",
            registry=r,
        )
        self.deadletters = Counter(
            "tokenrelay_deadletters",
            "Records dead-lettered by any process, by the topic they came from (each once)",
            ["topic"],
            registry=r,
        )
        self.buffered = Gauge(
            "tokenrelay_edge_buffered_bytes",
            "Bytes of SSE frames held in per-response rings",
            registry=r,
        )
        self.tracked = Gauge(
            "tokenrelay_edge_tracked_responses",
            "Responses held in the edge's memory (finished ones leave after edge_finished_keep_s)",
            registry=r,
        )
        self.directory = Gauge(
            "tokenrelay_edge_directory_entries",
            "Finished responses in the bounded directory (where to find them in Kafka)",
            registry=r,
        )
        self.lookups = Counter(
            "tokenrelay_edge_lookups",
            "Searches of the responses index for an unknown id",
            registry=r,
        )
        self.catchup_faults = Counter(
            "tokenrelay_edge_catchup_faults",
            "Catch-up reads ended by a Kafka fault (the client resumes)",
            registry=r,
        )
        self.archive_reads = Counter(
            "tokenrelay_edge_archive_reads",
            "Streams replayed from storage: Kafka no longer held them",
            registry=r,
        )
        self.responses = Counter(
            "tokenrelay_edge_responses_created", "Responses started via POST", registry=r
        )
        self.cache_hits = Counter(
            "tokenrelay_edge_cache_hits",
            "POSTs with cache:true answered from storage (no model call)",
            registry=r,
        )
        self.cache_misses = Counter(
            "tokenrelay_edge_cache_misses",
            "POSTs with cache:true that ran the model (nothing stored matched within the TTL)",
            registry=r,
        )


class LatencyHistogram(Collector):
    """A histogram without prometheus_client's lock: observe() is a bisect and two additions
    (0.3 µs measured, against 2.2 µs for prometheus_client's Histogram), called once per socket
    write of every reader. Safe because the
    edge observes and scrapes on its one event loop thread."""

    def __init__(self, name: str, doc: str, buckets: tuple[float, ...]) -> None:
        self.name, self.doc, self.bounds = name, doc, buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def since_ms(self, ts_ms: float) -> None:
        """Observe the time from `ts_ms` (epoch ms, another process's clock) to now; a clock
        behind the writer's counts as 0."""
        self.observe(max(0.0, time.time() - ts_ms / 1000))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.doc)
        buckets, total = [], 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            total += n
            buckets.append((bound, float(total)))
        family.add_metric([], buckets, self.sum)
        yield family
