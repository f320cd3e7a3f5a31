"""What the edge's endpoints share: built in the lifespan, passed down via app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.edge.access import Access
from app.edge.cached import ResponseCache
from app.edge.fanout import Fanout
from app.edge.history import History
from app.edge.limits import Connections
from app.edge.lookup import Locator
from app.edge.metrics import Metrics
from app.edge.stats import StatsWindow
from app.edge.stream import Streams
from app.producer import Publisher
from app.settings import Settings
from app.storage.store import Store
from app.tracing import Tracing


@dataclass(frozen=True, slots=True)
class EdgeState:
    settings: Settings
    metrics: Metrics
    fanout: Fanout
    history: History
    locator: Locator
    publisher: Publisher
    streams: Streams
    store: Store | None = None  # conversations' turns (None: no conversations)
    stats: StatsWindow = field(default_factory=lambda: StatsWindow(60))  # GET /v1/stats
    cache: ResponseCache | None = None  # POST's "cache": true (None: never a hit)
    access: Access | None = None  # API keys and read tokens (None: TOKENRELAY_AUTH=off)
    connections: Connections = field(default_factory=lambda: Connections(Settings()))
    tracing: Tracing = field(default_factory=Tracing.off)  # app/tracing.py
