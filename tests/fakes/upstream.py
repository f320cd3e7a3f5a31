"""A fake model server speaking both wire formats byte for byte, on a free 127.0.0.1 port in a
thread of its own (so one instance can serve worker processes for a whole test module).

Raw asyncio, not a framework: the tests need to choose every network write (to split a
character across two), to drop a connection mid-body, and to see when the client closes.
The scenario is the model name: `openai/<scenario>` posts `{"model": "<scenario>"}` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import leaky, wire, wire_tools

SLOW_INTERVAL_S = 0.02
SLOW_PIECES = 3000  # a minute at SLOW_INTERVAL_S: only a cancel ends it in a test
ACCEPT_SETTLE_S = 0.1


@dataclass
class Seen:
    """One request as the fake server saw it, and what happened to its connection."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float  # time.monotonic()
    pieces_sent: int = 0
    finished: bool = False  # the whole answer went out
    closed_at: float | None = None  # the client closed the connection before the answer ended
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def scenario(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def prompt(self) -> str:
        messages = self.body.get("messages") or [{}]
        return str(messages[-1].get("content", ""))


class Conn:
    """The writer side of one response, chunked, with the client-close watch."""

    def __init__(self, writer: asyncio.StreamWriter, seen: Seen) -> None:
        self.writer = writer
        self.seen = seen

    async def head(self, status: int, headers: list[tuple[str, str]], chunked: bool) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", _date()]
        lines += [f"{k}: {v}" for k, v in headers]
        if chunked:
            lines.append("transfer-encoding: chunked")
        lines.append("connection: keep-alive")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def chunk(self, data: bytes, pause_s: float = 0.002) -> None:
        if self.seen.closed.is_set():
            raise ConnectionResetError("client closed")
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.writer.drain()
        await asyncio.sleep(pause_s)  # separate network reads, not one coalesced buffer

    async def event(self, data: bytes) -> None:
        for part in wire.split_inside_char(data):
            await self.chunk(part)

    async def end(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()
        self.seen.finished = True

    async def error(self, status: int, body: bytes, extra: list[tuple[str, str]]) -> None:
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        await self.head(status, headers + extra, chunked=False)
        self.writer.write(body)
        await self.writer.drain()
        self.seen.finished = True

    def drop(self) -> None:
        """Reset the connection mid-body, as a crashed server or a cut network would."""
        self.writer.transport.abort()


Scenario = Callable[[Conn, Seen], Awaitable[None]]


async def _openai(conn: Conn, seen: Seen) -> None:
    model, name = "gpt-4o-mini-2024-07-18", seen.scenario
    if name == "http429":
        extra = [("retry-after", "7"), ("x-ratelimit-remaining-requests", "0")]
        return await conn.error(429, wire.OPENAI_429_BODY, extra)
    if name == "http404":
        return await conn.error(404, wire.OPENAI_404_BODY, [])
    if name == "http503":
        return await conn.error(503, wire.OPENAI_503_BODY, [])
    if await leaky.answer(name, conn, seen):
        return
    await conn.head(200, wire.OPENAI_HEADERS, chunked=True)
    if await _canned(conn, seen):
        return
    await conn.event(wire.openai_role(model))
    texts = _texts(seen)
    if name == "slow-first":
        for _ in range(300):  # the call's first-token timer fires long before this ends
            if seen.closed.is_set():
                return
            await asyncio.sleep(0.1)
    if name == "slow":
        return await _slowly(conn, seen, lambda t: wire.openai_text(model, t))
    for i, text in enumerate(texts):
        if i == 3 and name in ("error-mid", "drop"):
            if name == "drop":
                return conn.drop()
            await conn.event(wire.OPENAI_STREAM_ERROR)
            return await conn.end()
        await conn.event(wire.openai_text(model, text))
        seen.pieces_sent += 1
    await conn.event(wire.openai_finish(model))
    if name == "no-done":  # some compatible servers end after finish_reason, without [DONE]
        return await conn.end()
    await conn.event(wire.openai_usage(model))
    await conn.event(wire.OPENAI_DONE)
    await conn.end()


async def _anthropic(conn: Conn, seen: Seen) -> None:
    model, name = "claude-sonnet-4-5-20250929", seen.scenario
    if name == "http429":
        extra = [("retry-after", "12"), ("anthropic-ratelimit-requests-remaining", "0")]
        return await conn.error(429, wire.ANTHROPIC_429_BODY, extra)
    if name == "http529":
        return await conn.error(529, wire.ANTHROPIC_529_BODY, [])
    if name == "http400":
        return await conn.error(400, wire.ANTHROPIC_400_BODY, [])
    if await leaky.answer(name, conn, seen):
        return
    await conn.head(200, wire.ANTHROPIC_HEADERS, chunked=True)
    if await _canned(conn, seen):
        return
    await conn.event(wire.anthropic_start(model))
    await conn.event(wire.anthropic_block_start())
    await conn.event(wire.ANTHROPIC_PING)
    if name == "slow-first":
        for _ in range(30):  # pings keep the connection busy, but no text comes
            await asyncio.sleep(1)
            await conn.event(wire.ANTHROPIC_PING)
    if name == "slow":
        return await _slowly(conn, seen, wire.anthropic_text)
    for i, text in enumerate(_texts(seen)):
        if i == 3 and name in ("overloaded-mid", "drop"):
            if name == "drop":
                return conn.drop()
            await conn.event(wire.ANTHROPIC_OVERLOADED_EVENT)
            return await conn.end()
        await conn.event(wire.anthropic_text(text))
        seen.pieces_sent += 1
        if i % 5 == 4:
            await conn.event(wire.ANTHROPIC_PING)
    await conn.event(wire.anthropic_block_stop())
    await conn.event(wire.anthropic_message_delta())
    await conn.event(wire.ANTHROPIC_STOP)
    await conn.end()


async def _canned(conn: Conn, seen: Seen) -> bool:
    events = wire_tools.canned(seen.path, seen.scenario, seen.body)  # tool calls, citations
    for event in events or ():
        await conn.event(event)
    if events is not None:
        await conn.end()
    return events is not None


async def _slowly(conn: Conn, seen: Seen, event: Callable[[str], bytes]) -> None:
    for i in range(SLOW_PIECES):
        await conn.chunk(event(f"w{i} "), pause_s=SLOW_INTERVAL_S)
        seen.pieces_sent += 1
    await conn.end()


def _texts(seen: Seen) -> list[str]:
    # A prompt `echo:<text>` streams that text instead (to tell calls of one response apart).
    prompt = seen.prompt
    text = prompt[5:] if prompt.startswith("echo:") else wire.TEXT
    return wire.pieces(text)


ROUTES: dict[str, Scenario] = {"/v1/chat/completions": _openai, "/v1/messages": _anthropic}


class FakeUpstream:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeUpstream:
        ready = threading.Event()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]

        async def serve() -> None:
            self._stopped = asyncio.Event()
            server = await asyncio.start_server(self._handle, sock=sock)
            ready.set()
            await self._stopped.wait()
            # No new connections; then every handler ends, those of connections accepted just
            # before too (a connect can reach this loop late, after its client gave up on the
            # request; its handler task starts a few iterations on), and their transports close.
            server.close()
            await asyncio.sleep(ACCEPT_SETTLE_S)
            while self._handlers:
                for task in list(self._handlers):
                    task.cancel()
                await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()
            await asyncio.sleep(0)

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def find(self, predicate: Callable[[Seen], bool]) -> list[Seen]:
        return [s for s in list(self.seen) if predicate(s)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        assert me is not None
        self._handlers.add(me)
        me.add_done_callback(self._handlers.discard)
        # Stopping cancels handlers; asyncio's stream callback would log a cancelled one.
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve(reader, writer)
        finally:
            writer.close()  # cancelled at stop mid-connection: else its socket leaks (a warning)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.set_write_buffer_limits(0)  # drain() waits until the kernel has it
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                seen = await _read_request(reader)
                if seen is None:
                    break
                self.seen.append(seen)
                watch = asyncio.create_task(_watch_close(reader, seen))
                try:
                    route = ROUTES.get(seen.path)
                    conn = Conn(writer, seen)
                    if route is None:
                        await conn.error(404, b'{"error":"no such path"}', [])
                    else:
                        await route(conn, seen)
                finally:
                    watch.cancel()
                    await asyncio.gather(watch, return_exceptions=True)
                if writer.transport.is_closing() or seen.closed.is_set():
                    break
        with contextlib.suppress(Exception):
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    _, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(path, headers, json.loads(raw) if raw else {}, time.monotonic())


async def _watch_close(reader: asyncio.StreamReader, seen: Seen) -> None:
    # HTTP/1.1 clients send nothing while they read a response: EOF here is the client closing
    # (a reset, when it closed with our data unread).
    with contextlib.suppress(ConnectionError, OSError):
        while await reader.read(4096):
            pass
    if not seen.finished:
        seen.closed_at = time.monotonic()
    seen.closed.set()


def _date() -> str:
    return "date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
_REASONS |= {529: "Site Overloaded"}
