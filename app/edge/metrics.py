"""The edge's Prometheus metrics, in a registry of its own (one per app, no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
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
