"""The edge's memory of API keys: what the database said of each (valid, revoked, unknown) is
trusted for `auth_cache_s`, so a revoke reaches every edge within that time while a busy key
costs one query per period. At most SIZE keys, least recently used first out; requests with the
same key share one query. Held by digest: the keys themselves are never kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from app.auth.keys import Key

SIZE = 10_000
Lookup = Callable[[str], Awaitable[Key | None]]


class KeyCache:
    def __init__(
        self, lookup: Lookup, ttl_s: float, size: int = SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.lookup = lookup
        self.ttl_s = ttl_s
        self.size = size
        self.clock = clock
        self._held: OrderedDict[str, tuple[float, Key | None]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[Key | None]] = {}

    def __len__(self) -> int:
        return len(self._held)

    async def get(self, digest: str) -> Key | None:
        """The key with this digest (revoked ones too), None for an unknown one. A failed
        look-up raises and is not remembered."""
        held = self._held.get(digest)
        if held is not None and held[0] > self.clock():
            self._held.move_to_end(digest)
            return held[1]
        task = self._pending.get(digest)
        if task is None:
            task = self._pending[digest] = asyncio.create_task(self._fetch(digest))
            task.add_done_callback(lambda _: self._pending.pop(digest, None))
        # Shielded: one caller going away must not cancel the query the others wait for.
        return await asyncio.shield(task)

    async def _fetch(self, digest: str) -> Key | None:
        key = await self.lookup(digest)
        self._held[digest] = (self.clock() + self.ttl_s, key)
        self._held.move_to_end(digest)
        while len(self._held) > self.size:
            self._held.popitem(last=False)
        return key
