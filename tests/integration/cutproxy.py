"""A TCP proxy for tests that cuts every connection: after `cut_bytes` bytes from the server,
or `cut_ms` after it opened, whichever comes first. A cut aborts both sockets (a reset, no
clean end), mid-frame as often as not, so a client behind it must resume to read anything long.
"""

from __future__ import annotations

import asyncio
import contextlib

ACCEPT_SETTLE_S = 0.1


class CuttingProxy:
    def __init__(
        self, target_port: int, *, cut_bytes: int | None = None, cut_ms: float | None = None
    ) -> None:
        self.target_port = target_port
        self.cut_bytes = cut_bytes
        self.cut_ms = cut_ms
        self.connections = 0
        self.cuts = 0  # connections the proxy cut (not ended by either side first)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # A connection accepted just before the close starts its task a few iterations on.
        await asyncio.sleep(ACCEPT_SETTLE_S)
        while self._tasks:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        await asyncio.sleep(0)  # the aborted sockets close in the next iteration of the loop

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        server_w: asyncio.StreamWriter | None = None
        try:
            try:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return
            pipes = [
                asyncio.create_task(self._pipe(client_r, server_w, None)),
                asyncio.create_task(self._pipe(server_r, client_w, self.cut_bytes)),
            ]
            timeout = None if self.cut_ms is None else self.cut_ms / 1000
            done, _ = await asyncio.wait(
                pipes, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done or any(t.result() for t in done if not t.cancelled()):
                self.cuts += 1
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:  # cancelled too (the proxy closing), even while connecting: no socket left open
            client_w.transport.abort()
            if server_w is not None:
                server_w.transport.abort()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, limit: int | None
    ) -> bool:
        """Copy until EOF (False) or `limit` bytes (True: a cut)."""
        sent = 0
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                if limit is not None and sent + len(data) >= limit:
                    dst.write(data[: limit - sent])
                    await dst.drain()
                    return True
                sent += len(data)
                dst.write(data)
                await dst.drain()
        return False
