"""A rolling restart under load ends with zero failed streams (docs/operations.md).

Two workers and two edges on the session's broker; a response is created every second, each
streaming for about 5 s to a reader (the Python client, resuming with Last-Event-ID) whose
requests go round-robin over the edges, skipping one that refuses connections. Every process is
restarted in turn with SIGTERM (edge 1, edge 2, worker 1, worker 2), each waited for until it is
back. Then: every reader got seq 1..N once, in order, ending in `done`; the log holds no `error`
(no `worker_stopped`, no watchdog `producer_lost`) and each seq once: a worker joining is given
again requests its partitions' previous owner took, and must leave them to it. Without the
drains the workers' running responses would end in `worker_stopped` and the edges' readers
would wait for a dead socket.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict

import httpx
import orjson
import pytest

from app.client import AsyncClient
from app.client.errors import ApiError
from app.client.events import Event

from .kafkautil import Record, read_topic
from .procs import Edge, Proc, Stack, free_port

pytestmark = pytest.mark.integration

TOKENS, RATE = 50, 10.0  # about 5 s per response
CREATE_EVERY_S = 1.0
DRAIN_S = 20.0
EDGE_EXIT_S = 15.0
SETTLE_S = 1.5  # between restarts: new streams open on the process just started


class RoundRobin(httpx.AsyncBaseTransport):
    """Each request to the next edge in turn; an edge that refuses the connection (stopped,
    not back yet) is skipped. Counts the event-stream requests (first ones and resumes)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.streams = 0
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            self.streams += 1
        failure: Exception | None = None
        for _ in self.ports:
            self.turn += 1
            request.url = request.url.copy_with(port=self.ports[self.turn % len(self.ports)])
            try:
                return await self.inner.handle_async_request(request)
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        await self.inner.aclose()


async def read(client: AsyncClient, rid: str, got: list[Event]) -> list[Event]:
    """`got`: the caller's, so a reader that never ends still shows how far it came."""
    async with client.events(rid) as stream:
        async for event in stream:
            got.append(event)
    return got


async def load(
    client: AsyncClient, stop: asyncio.Event, readers: dict[str, asyncio.Task],  # type: ignore[type-arg]
    progress: dict[str, list[Event]],
) -> None:  # fmt: skip
    """A new response every CREATE_EVERY_S, each with its reader, until `stop`."""
    n = 0
    while not stop.is_set():
        n += 1
        for attempt in range(5):  # a POST on a connection the edge just closed
            try:
                created = await client.create(
                    model="demo", input=f"topic {n}", params={"tokens": TOKENS, "rate": RATE}
                )
                break
            except (httpx.TransportError, ApiError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2)
        got = progress[created.id] = []
        readers[created.id] = asyncio.create_task(read(client, created.id, got))
        await asyncio.sleep(CREATE_EVERY_S)


async def report_unfinished(
    stack: Stack,
    readers: dict[str, asyncio.Task],
    progress: dict[str, list[Event]],  # type: ignore[type-arg]
) -> None:
    """What the log holds of each response whose reader did not end, beside what it read."""
    stuck = [rid for rid, task in readers.items() if not task.done()]
    records = await read_topic(
        stack.settings, stack.settings.events_topic, until=lambda _: False, timeout_s=10
    )
    for rid in stuck:
        logged = [orjson.loads(r.value) for r in records if r.key == rid.encode()]
        seqs = [e["seq"] for e in logged]
        ends = [e["type"] for e in logged if e["type"] in ("done", "error", "cancelled")]
        got = [e.seq for e in progress[rid]]
        print(f"unfinished {rid}: read {got[-3:]} ({len(got)}); log {seqs[-3:]} ({len(seqs)})")
        print(f"  its terminal events in the log: {ends}")


async def wait_exit(proc: Proc, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.alive:
        assert time.monotonic() < deadline, f"{proc.name} still running {timeout_s} s after TERM"
        await asyncio.sleep(0.05)


async def test_rolling_restart_under_load(stack: Stack) -> None:
    # INFO: a worker's takeover decisions (agents/generation.py) are in its log if this fails.
    stack.settings = stack.settings_with(worker_drain_s=DRAIN_S, log_level="INFO")
    ports = [free_port(), free_port()]
    started = await asyncio.gather(
        stack.worker(), stack.worker(), *(stack.edge(port=p) for p in ports)
    )
    workers: list[Proc] = list(started[:2])
    edges: list[Edge] = [e for e in started[2:] if isinstance(e, Edge)]
    transport = RoundRobin(ports)
    readers: dict[str, asyncio.Task[list[Event]]] = {}
    open_at_restart: dict[str, int] = {}
    progress: dict[str, list[Event]] = {}
    stop = asyncio.Event()
    async with AsyncClient(f"http://127.0.0.1:{ports[0]}", transport=transport) as client:
        loader = asyncio.create_task(load(client, stop, readers, progress))
        await asyncio.sleep(2 * SETTLE_S)
        for edge in edges:
            open_at_restart[edge.name] = sum(not t.done() for t in readers.values())
            edge.popen.send_signal(signal.SIGTERM)
            await wait_exit(edge, EDGE_EXIT_S)
            await stack.edge(port=edge.port)
            await asyncio.sleep(SETTLE_S)
        for worker in workers:
            open_at_restart[worker.name] = sum(not t.done() for t in readers.values())
            worker.popen.send_signal(signal.SIGTERM)
            await wait_exit(worker, DRAIN_S + 15)
            await stack.worker()
            await asyncio.sleep(SETTLE_S)
        stop.set()
        await loader
        try:
            async with asyncio.timeout(60):
                reads = {rid: await task for rid, task in readers.items()}
        except TimeoutError:
            await report_unfinished(stack, readers, progress)
            raise

    # Every reader: 1..N once, in order, one terminal, `done`, last.
    for rid, got in reads.items():
        seqs = [e.seq for e in got]
        assert seqs == list(range(1, len(seqs) + 1)), f"{rid}: {seqs}"
        assert [e.type for e in got if e.terminal] == ["done"], f"{rid}: {got[-3:]}"
        assert got[-1].type == "done"

    # The log as an audit consumer sees it: no error at all, nothing a reader missed.
    def complete(records: list[Record]) -> bool:
        return sum(1 for r in records if b'"done"' in r.value) >= len(reads)

    records = await read_topic(
        stack.settings, stack.settings.events_topic, until=complete, timeout_s=20
    )
    logged: dict[str, list[int]] = defaultdict(list)
    for r in records:
        event = orjson.loads(r.value)
        assert event["type"] != "error", event
        logged[r.key.decode()].append(event["seq"])
    for rid, got in reads.items():
        assert logged[rid] == list(range(1, len(got) + 1)), f"{rid} in the log: {logged[rid]}"

    # The restarts met load: streams open at each, resumed elsewhere, workers drained.
    assert min(open_at_restart.values()) >= 2, open_at_restart
    assert transport.streams > len(reads), (transport.streams, len(reads))
    for worker in workers:
        assert "draining: " in worker.text() and "drained: " in worker.text(), worker.tail()
    print(
        f"{len(reads)} responses, {transport.streams - len(reads)} resumes, "
        f"open at each restart {open_at_restart}"
    )
