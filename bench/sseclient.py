"""A minimal HTTP/1.1 + SSE client on raw asyncio streams, cheap enough for thousands of readers
in one load-generator process (httpx costs several times more CPU per event). It reads only what
the three servers under test send: chunked or close-delimited bodies, `id/event/data` events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

READ_SIZE = 1 << 16


def now_ms() -> float:
    return time.time() * 1000.0


@dataclass
class Event:
    data: dict[str, Any]
    size: int  # bytes of the event on the wire, its blank line included (the peer's cursor)

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))

    @property
    def seq(self) -> int:
        return int(self.data.get("seq", 0))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    _dechunk: Dechunker | None = None

    async def batches(self) -> AsyncIterator[tuple[float, list[Event]]]:
        """(receive time in epoch ms, the complete events that arrived with it), until EOF."""
        buf = b""
        while True:
            data = await self.reader.read(READ_SIZE)
            if not data:
                return
            recv = now_ms()
            if self._dechunk is not None:
                data = self._dechunk.feed(data)
            buf += data
            if b"\n\n" not in buf:
                if self._dechunk is not None and self._dechunk.done:
                    return
                continue
            *blocks, buf = buf.split(b"\n\n")
            events = [e for e in map(_event, blocks) if e is not None]
            if events:
                yield recv, events
            if self._dechunk is not None and self._dechunk.done:
                return

    async def body(self, limit: int = 1 << 20) -> bytes:
        out = b""
        while len(out) < limit:
            data = await self.reader.read(READ_SIZE)
            if not data:
                break
            out += self._dechunk.feed(data) if self._dechunk is not None else data
            if self._dechunk is not None and self._dechunk.done:
                break
            if "content-length" in self.headers and len(out) >= int(self.headers["content-length"]):
                break
        return out

    def close(self) -> None:
        self.writer.close()


async def request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    local_addr: tuple[str, int] | None = None,
) -> Response:
    """Send one request on a new connection and read the status line and headers."""
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=local_addr, limit=READ_SIZE * 4
    )
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        writer.close()
        raise ConnectionError(f"no HTTP response head from {host}:{port}{path}") from None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
    resp = Response(int(status_line.split()[1]), found, reader, writer)
    if found.get("transfer-encoding", "").lower() == "chunked":
        resp._dechunk = Dechunker()
    return resp


async def post_json(host: str, port: int, path: str, value: Any) -> tuple[int, Any]:
    resp = await request(host, port, "POST", path, body=orjson.dumps(value))
    try:
        raw = await resp.body()
    finally:
        resp.close()
    return resp.status, orjson.loads(raw) if raw else None


async def get_json(host: str, port: int, path: str) -> tuple[int, Any]:
    resp = await request(host, port, "GET", path)
    try:
        raw = await resp.body()
    finally:
        resp.close()
    return resp.status, orjson.loads(raw) if raw else None


def _event(block: bytes) -> Event | None:
    # Comments (": ping") and blocks without data (a lone retry:) are not events.
    at = block.find(b"data: ")
    if at < 0:
        return None
    end = block.find(b"\n", at)
    data = orjson.loads(block[at + 6 : end if end >= 0 else len(block)])
    return Event(data, len(block) + 2)


class Dechunker:
    """Incremental decoder of HTTP/1.1 chunked transfer coding."""

    def __init__(self) -> None:
        self.buf = b""
        self.left = 0  # bytes of the current chunk still to come
        self.crlf = False  # the CRLF after a chunk's data is still to come
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self.buf + data if self.buf else data
        pos, n, out = 0, len(buf), []
        while pos < n and not self.done:
            if self.left:
                end = min(n, pos + self.left)
                out.append(buf[pos:end])
                self.left -= end - pos
                pos = end
            elif self.crlf:
                if n - pos < 2:
                    break
                pos += 2
                self.crlf = False
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
                pos = eol + 2
                if size == 0:
                    self.done = True
                else:
                    self.left, self.crlf = size, True
        self.buf = buf[pos:]
        return b"".join(out)
