"""run_worker(settings): create the topics, then run the Faust app until stopped; a stop signal
drains it first (agents/drain.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import mode.loop

from agents import hooks
from agents.app import make_app
from agents.drain import Drain, DrainingWorker
from agents.metrics import WorkerMetrics
from app.heap import TRIM_EVERY_S, release_free_memory, settle_heap
from app.settings import Settings
from app.storage.migrate import upgrade_if_sqlite
from app.topics import ensure_topics

log = logging.getLogger("tokenrelay.worker")


def run_worker(settings: Settings) -> int:
    # uvloop, as the edge runs under uvicorn: the worker's per-token work is mostly event loop
    # (a timer and a task step per token of every response).
    mode.loop.use("uvloop")
    # Faust would auto-create topics with the broker's default partition count; we create them
    # first, with ours. Its own table changelog it declares with `topic_partitions`.
    asyncio.run(ensure_topics(settings))
    # A SQLite database (development) is migrated here; PostgreSQL by `tokenrelay db upgrade`.
    asyncio.run(upgrade_if_sqlite(settings.database_url))
    metrics = WorkerMetrics()
    drain = Drain(settings.worker_drain_s)
    app = make_app(settings, metrics, drain)
    metrics.serve(settings)  # before Faust starts: a port in use stops the worker here
    ready = False

    @hooks.on_assigned(app)
    async def announce(assigned: set[Any]) -> None:
        nonlocal ready
        if not ready:
            ready = True
            settle_heap()
            log.warning("worker ready: %d partitions assigned", len(assigned))

    @hooks.timer(app, interval=TRIM_EVERY_S, name="heap-trim")
    async def trim_heap() -> None:
        await asyncio.to_thread(release_free_memory)

    # faust and aiokafka log every send at debug level; left enabled, building those records
    # costs more CPU than sequencing the event.
    for name in ("faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(logging.INFO)
    # Logging is app/logs.py's (set up by the CLI), not Faust's own colour handler.
    worker = DrainingWorker(
        app, drain, settings.requests_topic, loglevel="warning", quiet=True,
        override_logging=False,
    )  # fmt: skip
    worker.spinner = None  # Faust's terminal spinner writes escape codes into the log
    worker.execute_from_commandline()
    return 0
