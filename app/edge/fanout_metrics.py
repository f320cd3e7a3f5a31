"""The edge's figures computed at scrape time, never per event: its consumers' lag per topic and
its readers' live queues (the fan-out's depth), from what the fan-out holds anyway.

A scrape walks every reader once (thousands: well under a millisecond), on the event loop like
everything the queues are touched by, so the figures are consistent with each other.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.edge.fanout import Fanout


class FanoutCollector(Collector):
    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "tokenrelay_edge_consumer_lag",
            "Records in Kafka this edge has not read yet, per topic (high watermark minus "
            "position, summed over partitions)",
            labels=["topic"],
        )
        prefix = f"{self.fanout.settings.topic_prefix}."
        for topic, n in sorted(self.fanout.lag().items()):
            lag.add_metric([topic.removeprefix(prefix)], n)
        queued = readers = deepest = 0
        for tracked in list(self.fanout.responses.values()):
            for sub in tracked.subscribers:
                readers += 1
                depth = len(sub.frames)
                queued += depth
                deepest = max(deepest, depth)
        yield lag
        yield GaugeMetricFamily(
            "tokenrelay_edge_fanout_queued_events",
            "Live events waiting in readers' queues (each queue holds edge_subscriber_queue "
            "before its reader moves to catch-up reads)",
            value=queued,
        )
        yield GaugeMetricFamily(
            "tokenrelay_edge_fanout_queue_max_events",
            "The longest reader queue: near edge_subscriber_queue, a reader about to overflow",
            value=deepest,
        )
        yield GaugeMetricFamily(
            "tokenrelay_edge_fanout_subscribers", "Live subscriptions to responses", value=readers
        )
