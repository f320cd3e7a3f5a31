"""A reader that never reads: the edge's memory stays bounded, other readers get every event,
and the stalled reader is moved to catch-up (counted in /metrics).

The response is published with the SDK in ~2 KB deltas, ~8 MB in all: more than loopback's
socket buffers (4 MB send buffer at most) can hide, so the stall really reaches the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest

from app.producer import Publisher, new_response_id

from .procs import Stack, up
from .sse import assert_contiguous, client_for, delta_text, events_url, read_all, wait_known

pytestmark = pytest.mark.integration

DELTAS = 4000
FAST_READERS = 20
MAX_GROWTH_KIB = 60 * 1024  # measured ~25 MiB; one write per whole backlog made it 110
OVERFLOW_METRIC = "tokenrelay_edge_subscriber_overflows_total"


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` and its descendants (the edge may serve from a child process)."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


async def stalled_reader(port: int, rid: str) -> socket.socket:
    """Send the GET and never read: a tiny receive buffer so backpressure reaches the edge."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = (
        f"GET {events_url(rid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    return sock


def overflows(metrics: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(OVERFLOW_METRIC) and not line.startswith("#")
    ]
    assert values, f"{OVERFLOW_METRIC} missing from /metrics:\n{metrics[:2000]}"
    return sum(values)


def chunk(i: int) -> str:
    return f"[{i:05d}] " + "lorem ipsum " * 170


async def test_stalled_reader_keeps_memory_bounded(stack: Stack) -> None:
    edge = await up(stack, edge_subscriber_queue=64)
    rid = new_response_id()
    async with (
        Publisher(stack.settings) as pub,
        client_for(edge.url, connections=FAST_READERS + 10) as client,
    ):
        writer = pub.response(rid)
        await writer.open()
        await writer.delta(chunk(1))
        assert (await wait_known(client, rid)).seq == 1
        baseline = peak = rss_kib(edge.pid)
        slow = await stalled_reader(edge.port, rid)
        try:
            readers = [
                asyncio.create_task(read_all(client, rid, timeout_s=150))
                for _ in range(FAST_READERS)
            ]
            for i in range(2, DELTAS + 1):
                await writer.delta(chunk(i))
                if i % 100 == 0:
                    peak = max(peak, rss_kib(edge.pid))
            await writer.source_done()
            await writer.done()
            while not all(r.done() for r in readers):
                peak = max(peak, rss_kib(edge.pid))
                await asyncio.wait(readers, timeout=0.2)
            reads = [r.result() for r in readers]
            peak = max(peak, rss_kib(edge.pid))
            metrics = (await client.get("/metrics")).text
        finally:
            slow.close()
    expected = "".join(chunk(i) for i in range(1, DELTAS + 1))
    for i, got in enumerate(reads):
        assert_contiguous(got.events)
        # The writer coalesces deltas, so the count of events is the log's, the same for all.
        assert len(got.events) == len(reads[0].events), f"reader {i}: {len(got.events)} events"
        assert [e.type for e in got.events[-2:]] == ["source.done", "done"]
        assert delta_text(got.events) == expected, f"reader {i}: text differs"
    growth = peak - baseline
    assert growth < MAX_GROWTH_KIB, f"edge RSS grew {growth} KiB ({baseline} -> {peak})"
    assert overflows(metrics) > 0
