"""A stream read with read tokens ends at their expiry (docs/security.md): `Expiring` wraps its
body and ends it cleanly, between two writes, once the earliest token has expired.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from app import events
from app.edge.stream import Source

EXPIRED = b": read token expired\n\n"  # a comment: readers ignore it, a person sees why


class Expiring:
    """A stream body that ends cleanly at its first item after `until_ms` (epoch ms). Bodies
    yield at least a ping every heartbeat, so it ends at most a heartbeat late, never mid-frame."""

    def __init__(self, body: Source, until_ms: float) -> None:
        self.body = body
        self.until_ms = until_ms
        self._iter: AsyncGenerator[bytes, None] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iter = self._items()
        return self._iter

    async def _items(self) -> AsyncGenerator[bytes, None]:
        async for item in self.body:
            if events.now_ms() >= self.until_ms:
                yield EXPIRED
                return
            yield item

    async def aclose(self) -> None:
        try:
            if self._iter is not None:
                await self._iter.aclose()
        finally:
            await self.body.aclose()
