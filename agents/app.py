"""make_app(settings) -> the Faust app that runs every agent of a tokenrelay worker."""

from __future__ import annotations

import faust

from agents import generation, persist, stats, views, watchdog
from agents.drain import Drain
from agents.metrics import WorkerMetrics
from agents.transport import App
from app import kafka_security
from app.settings import Settings


def make_app(
    settings: Settings, metrics: WorkerMetrics | None = None, drain: Drain | None = None
) -> faust.App:
    """The worker's Faust app; `metrics` (a fresh one by default) is fed by its agents; `drain`
    (agents/drain.py) lets its running responses finish when it stops."""
    metrics = metrics or WorkerMetrics()
    app = App(
        f"{settings.topic_prefix}-worker",
        **kafka_security.faust_options(settings),
        web_enabled=False,
        datadir=settings.worker_datadir,
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        # Faust carries no per-token traffic (writers publish events themselves): its sends
        # are index and control records, a few per response.
        producer_linger=0.005,
        stream_publish_on_commit=False,
        stream_wait_empty=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=settings.worker_session_timeout_s / 4,
        broker_commit_interval=1.0,
        table_cleanup_interval=60.0,
        # The watchdog reaps only what its own active partitions hold.
        table_standby_replicas=0,
    )
    dog = watchdog.register(app, settings)
    metrics.counts(
        "tokenrelay_worker_watchdog", "What the watchdog did (ended: silent responses it ended)",
        lambda: dog.counts,
    )  # fmt: skip
    generation.register(app, settings, metrics, drain)
    metrics.watch_app(app, settings.topic_prefix)
    views.register(app, settings)
    stats.register(app, settings)
    metrics.counts(
        "tokenrelay_worker_persist", "What the persist agent did with complete responses",
        persist.register(app, settings),
    )  # fmt: skip
    return app
