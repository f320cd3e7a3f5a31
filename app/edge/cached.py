"""The edge's half of the response cache: at a POST that asked for it, one indexed query for the
newest `done` response of the same request hash within `cache_ttl_s` (app/storage/store.py).

The cache is an optimisation: a database that fails or is slow makes a miss, never a failed POST.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from app.cache import CacheAsk, CacheHit
from app.edge.metrics import Metrics
from app.storage.records import request_hash
from app.storage.store import Store

log = logging.getLogger(__name__)
# A POST waits this long for the lookup, then runs the model: a cache must not add an outage.
LOOKUP_TIMEOUT_S = 2.0


class ResponseCache:
    def __init__(self, store: Store, metrics: Metrics, ttl_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.ttl_s = ttl_s

    async def lookup(self, calls: Sequence[dict[str, Any]], ask: CacheAsk) -> CacheHit | None:
        """The response that answers `calls` from storage, or None (a miss: run the model).

        The hash is `request_hash`, the persist agent's: the calls' sources, models, messages
        and params. Views are left out on purpose: they never change the raw text, and a cached
        response makes its own views from the replayed events, so it gets the ones it asks for."""
        rid = None
        if self.ttl_s > 0:
            since_ms = time.time() * 1000 - self.ttl_s * 1000
            try:
                async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                    rid = await self.store.latest_done(request_hash({"calls": calls}), since_ms)
            except Exception as exc:  # the database: any fault of its driver, or the timeout
                log.warning("response cache lookup failed, running the model: %r", exc)
        if rid is None:
            self.metrics.cache_misses.inc()
            return None
        self.metrics.cache_hits.inc()
        return CacheHit(rid, ask.pace)
