"""The edge's SSE response: raw ASGI on the hot path (sse-starlette measured ~3x slower here).

One `http.response.body` send per item the body yields (a reader yields every frame ready at a
wake-up as one item), `: ping` comes from the body when idle. Three things race, and the first
to finish ends the response:

    pump     body items -> send (each within edge_send_timeout_s)
    watch    receive() until http.disconnect
    closing  Streams.close(): the edge is shutting down (SIGTERM)

A finished pump or a shutdown ends the body cleanly (more_body False), so the client resumes;
a disconnect sends nothing more; a send timeout leaves it to the server to drop the socket.
A shutdown first sends a `retry:` hint (a few hundred ms, jittered per stream) so that every
reader of a draining edge reconnects at once, elsewhere, without all arriving in one instant.
It ends at an event boundary: each body item is whole frames, and the server writes an item to
its transport before the `send` can be cancelled (only the flow-control wait after it can be).
The body is closed in every case, which releases the reader's subscriptions, and then the
`on_close` callbacks run (the connection's slot, limits.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)
# The server's own `send`, put in the scope by the app (main.py's EdgeApp). Starlette wraps
# `send` twice (ServerErrorMiddleware, the exception handlers) to learn whether a response has
# started; on the SSE hot path those wrappers measured ~16 % of the edge's CPU at 100 streams.
# A stream catches its own errors, so it needs neither.
RAW_SEND = "tokenrelay.raw_send"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
Scope = Mapping[str, Any]


class Source(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class Streams:
    """The edge's open SSE responses' shared shutdown signal, and the `retry:` hint (ms, plus
    up to as much again at random) each of them gets when it fires."""

    def __init__(self, retry_ms: int = 0) -> None:
        self.closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.retry_ms = retry_ms

    @property
    def draining(self) -> bool:
        return self.closing.done()

    def retry_hint(self) -> bytes:
        """The frame that tells a reader how soon to reconnect (none when retry_ms is 0)."""
        if self.retry_ms <= 0:
            return b""
        return b"retry: %d\n\n" % (self.retry_ms + random.randint(0, self.retry_ms))

    def close(self) -> None:
        """End every open stream cleanly (their clients reconnect elsewhere). Call it from the
        event loop; from a signal handler or another thread use `close_threadsafe`."""
        if not self.closing.done():
            self.closing.set_result(None)

    def close_threadsafe(self) -> None:
        self.closing.get_loop().call_soon_threadsafe(self.close)


class EventStream:
    """An ASGI app that streams `body` as text/event-stream."""

    def __init__(self, body: Source, streams: Streams, send_timeout_s: float) -> None:
        self.body = body
        self.streams = streams
        self.send_timeout_s = send_timeout_s
        self.started = False
        self.stalled = False
        self._sending_since = 0.0  # loop time a send began, 0 while none is under way
        self._check_at: asyncio.TimerHandle | None = None
        # Called once the stream has ended and its body is closed (limits.py gives back the
        # connection's slot here), whatever ended it.
        self.on_close: list[Callable[[], None]] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        send = scope.get(RAW_SEND, send)
        pump = watch = None
        try:
            pump = asyncio.create_task(self._pump(send))
            watch = asyncio.create_task(_disconnect(receive))
            await asyncio.wait(
                {pump, watch, self.streams.closing}, return_when=asyncio.FIRST_COMPLETED
            )
            left = watch.done()
            drained = self.streams.draining and not pump.done()
            for task in (pump, watch):
                task.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            _log_failure(pump)
            if not left and not self.stalled:
                await self._finish(send, self.streams.retry_hint() if drained else b"")
        finally:
            try:
                # Cancelled from outside (a server's forced shutdown): the pump must be done
                # before the body it iterates can be closed.
                running = [t for t in (pump, watch) if t is not None and not t.done()]
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                await self.body.aclose()
            finally:
                for closed in self.on_close:
                    closed()

    async def _pump(self, send: Any) -> None:
        """Send what the body yields. A send that takes edge_send_timeout_s (the client reads
        nothing) ends the pump: one check per timeout period, not a timer per send."""
        await self._start(send)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._check_at = loop.call_later(self.send_timeout_s, self._check, loop, task)
        try:
            async for chunk in self.body:
                self._sending_since = loop.time()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self._sending_since = 0.0
        finally:
            self._check_at.cancel()

    def _check(self, loop: asyncio.AbstractEventLoop, pump: asyncio.Task[None]) -> None:
        since = self._sending_since
        if since and loop.time() - since >= self.send_timeout_s:
            self.stalled = True
            pump.cancel()
            return
        next_at = (since or loop.time()) + self.send_timeout_s
        self._check_at = loop.call_at(next_at, self._check, loop, pump)

    async def _start(self, send: Any) -> None:
        if not self.started:
            self.started = True
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})

    async def _finish(self, send: Any, last: bytes = b"") -> None:
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await self._start(send)
                await send({"type": "http.response.body", "body": last, "more_body": False})
        except (TimeoutError, OSError) as exc:
            log.debug("closing a stream failed: %r", exc)


def _log_failure(pump: asyncio.Task[None]) -> None:
    if not pump.cancelled() and pump.exception() is not None:
        # Ended cleanly all the same: the client resumes.
        log.warning("stream ended by %r", pump.exception())


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
