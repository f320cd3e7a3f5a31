"""create_app(settings): the Starlette edge, with its Kafka consumer and producer started and
stopped by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from app.edge.fanout import Fanout
from app.edge.history import History
from app.edge.metrics import Metrics
from app.edge.routes import EXCEPTION_HANDLERS, ROUTES
from app.edge.state import EdgeState
from app.producer import Publisher
from app.settings import Settings
from app.topics import ensure_topics


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        partitions = await ensure_topics(settings)
        metrics = Metrics()
        fanout = Fanout(settings, metrics)
        publisher = Publisher(settings)
        await publisher.start()
        await fanout.start(partitions)
        app.state.edge = EdgeState(settings, metrics, fanout, History(settings, metrics), publisher)
        try:
            yield
        finally:
            await fanout.stop()
            await publisher.stop()

    return Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
