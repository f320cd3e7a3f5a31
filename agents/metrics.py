"""The worker's Prometheus metrics, served on a port of its own (`TOKENRELAY_WORKER_METRICS_PORT`,
0: none): responses ended (by type and error code: the upstream errors), time to first token,
text pieces and event records written, records its agents read and their lag, the writer's
queue, running responses, what the watchdog and the persist agent did, and the process itself.

Nothing here is on the per-token path: a response is counted once, when its writer ends it
(Publisher.on_finished gets its summary); the writer's, Faust's and the agents' own counts are
read at scrape time (served from the metrics thread: reads of ints and dicts, copied first).
docs/observability.md lists them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import faust
from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.producer import Publisher
from app.prometheus import process_registry
from app.settings import Settings

log = logging.getLogger(__name__)
# Time to first token, seconds: the demo model's first token is milliseconds; real models' 0.2-10 s.
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = process_registry()
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

    def watch_publisher(self, publisher: Publisher) -> None:
        """The generation writer's event records and librdkafka queue (read at scrape time)."""
        self.registry.register(_Publisher(publisher))

    def watch_app(self, app: faust.App, prefix: str) -> None:
        """What the agents read, per topic, and how far behind they are (Faust's own monitor
        counts every record it hands them; the lag is computed at scrape time)."""
        self.registry.register(_Consuming(app, prefix))

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


class _Publisher(Collector):
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "tokenrelay_worker_events_out",
            "Event records this worker's writers produced to <prefix>.events",
            value=self.publisher.produced,
        )
        yield GaugeMetricFamily(
            "tokenrelay_worker_producer_queued_records",
            "Records in the writer's librdkafka queues, not yet acknowledged by Kafka",
            value=self.publisher.queued(),
        )


class _Consuming(Collector):
    def __init__(self, app: faust.App, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    def collect(self) -> Iterator[Metric]:
        records = CounterMetricFamily(
            "tokenrelay_worker_records_in",
            "Records the worker's agents read, per topic (requests, index, events, views ...)",
            labels=["topic"],
        )
        lag = GaugeMetricFamily(
            "tokenrelay_worker_consumer_lag",
            "Records in Kafka the agents have not read yet, per topic (high watermark minus "
            "position, summed over this worker's partitions)",
            labels=["topic"],
        )
        monitor = self.app.monitor
        for topic, n in sorted(_copy(monitor.messages_received_by_topic).items()):
            records.add_metric([self._name(topic)], n)
        for topic, n in sorted(self._lag(_copy(monitor.tp_read_offsets)).items()):
            lag.add_metric([self._name(topic)], n)
        yield records
        yield lag

    def _lag(self, read: Mapping[Any, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            consumer = self.app.consumer
            assigned = set(consumer.assignment())
        except Exception:  # not started, or between two assignments: nothing to say
            return out
        for tp in assigned:
            try:
                high = consumer.highwater(tp)
            except Exception:
                continue
            offset = read.get(tp)  # the last offset handed to an agent
            if high is None or offset is None:
                continue  # nothing read from it since this worker got it: not known here
            out[tp.topic] = out.get(tp.topic, 0) + max(0, high - offset - 1)
        return out

    def _name(self, topic: str) -> str:
        return topic.removeprefix(f"{self.prefix}.")


def _copy(live: Mapping[Any, int]) -> dict[Any, int]:
    """A copy of a dict the event loop's thread may grow meanwhile (a new topic or partition):
    copying can then fail, and a second try finds it grown."""
    for _ in range(3):
        try:
            return dict(live)
        except RuntimeError:
            continue
    return {}
