"""create_app(settings): the Starlette edge, with its Kafka consumers, producer and storage (for
replays beyond Kafka's retention) started and stopped by the lifespan.

Shutdown: `close_streams(app)` ends every open SSE stream cleanly with a `retry:` hint (clients
reconnect, elsewhere) and turns /healthz to 503. A server should call it when it starts
shutting down (SIGTERM), before it waits for connections to finish; the lifespan's own
shutdown calls it as well, for servers that don't. docs/operations.md
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from app import logs
from app.deadletter import DeadLetters
from app.edge import access, cors
from app.edge.archive import Archive
from app.edge.cached import ResponseCache
from app.edge.dead_count import DeadLetterCount
from app.edge.fanout import Fanout
from app.edge.fanout_metrics import FanoutCollector
from app.edge.history import History
from app.edge.limits import Connections
from app.edge.lookup import Locator
from app.edge.metrics import Metrics
from app.edge.pool import ConsumerPool
from app.edge.routes import EXCEPTION_HANDLERS, ROUTES
from app.edge.state import EdgeState
from app.edge.stats import StatsReader, StatsWindow
from app.edge.stats_metrics import StatsCollector
from app.edge.stream import RAW_SEND, Streams
from app.heap import settle_heap
from app.producer import Publisher
from app.settings import Settings
from app.storage.migrate import upgrade_if_sqlite
from app.storage.store import Store
from app.topics import ensure_topics
from app.tracing import Tracing

RESPONSE_PATH = "/v1/responses/"


class EdgeApp(Starlette):
    """Starlette, handing SSE streams the server's unwrapped `send` (see stream.RAW_SEND), behind
    the CORS policy if there is one (cors.py). The policy sits outside, so the `send` streams
    get is its wrapper and their answers carry its headers too."""

    def __init__(self, *, cors_origins: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._entry = cors.wrap(self._dispatch, cors_origins)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope[RAW_SEND] = send
        path: str = scope.get("path", "")
        if path.startswith(RESPONSE_PATH):  # this request's log lines carry its rid
            logs.bind(path[len(RESPONSE_PATH) :].partition("/")[0][:200])
        try:
            await super().__call__(scope, receive, send)
        finally:
            # The server's send is a method of its request object, which holds this scope: left
            # here, every request is a reference cycle, freed only by a full collection (a
            # loaded edge made ~6 MB of such garbage a minute, and its arenas stayed allocated).
            scope.pop(RAW_SEND, None)


def create_app(settings: Settings) -> Starlette:
    tokens = access.read_tokens(settings)  # before any start: a bad secret stops it here

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        partitions = await ensure_topics(settings)
        # A SQLite database (development) is migrated here; PostgreSQL by `tokenrelay db upgrade`.
        await upgrade_if_sqlite(settings.database_url)
        store = Store.connect(settings.database_url)  # no connection until a replay needs one
        metrics = Metrics()
        archive = Archive(store, metrics)
        deadletters = DeadLetters(settings)
        fanout = Fanout(settings, metrics, deadletters)
        fanout.tracing = tracing = Tracing.from_settings(settings, "tokenrelay-edge")
        metrics.registry.register(FanoutCollector(fanout))
        pool = ConsumerPool(settings, settings.edge_max_catchup_reads)
        publisher = Publisher(settings)
        streams = Streams(settings.edge_drain_retry_ms)
        window = StatsWindow(settings.stats_window_minutes)
        metrics.registry.register(StatsCollector(window))
        stats = StatsReader(settings, window, partitions[settings.stats_topic], deadletters)
        dead_count = DeadLetterCount(
            settings, metrics.deadletters, partitions[settings.deadletter_topic]
        )
        await publisher.start()
        await fanout.start(partitions)
        stats.start()
        dead_count.start()
        app.state.edge = EdgeState(
            settings,
            metrics,
            fanout,
            History(settings, metrics, pool, fanout.settled, archive),
            Locator(settings, metrics, fanout, pool, archive),
            publisher,
            streams,
            store=store,
            stats=window,
            cache=ResponseCache(store, metrics, settings.cache_ttl_s),
            access=access.start(settings, tokens, store, fanout),
            connections=Connections(settings),
            tracing=tracing,
        )
        settle_heap()
        try:
            yield
        finally:
            streams.close()
            await stats.stop()
            await dead_count.stop()
            await fanout.stop()
            await pool.close()
            await deadletters.stop()
            await publisher.stop()
            await store.close()
            tracing.shutdown()

    return EdgeApp(
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        cors_origins=settings.cors_origins,
    )


def close_streams(app: Starlette) -> None:
    """End the app's open SSE streams cleanly and report the edge as draining (/healthz 503);
    safe from a signal handler or another thread."""
    edge: EdgeState | None = getattr(app.state, "edge", None)
    if edge is not None:
        edge.streams.close_threadsafe()
