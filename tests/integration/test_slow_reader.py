"""A reader that never reads: the edge's memory stays bounded, other readers are not held
back, and the stalled reader is moved to catch-up (counted in /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest

from .procs import Stack, up
from .sse import assert_contiguous, client_for, create_demo, events_url, read_all

pytestmark = pytest.mark.integration

TOKENS = 20_000
RATE = 4000.0
FAST_READERS = 20
MAX_GROWTH_KIB = 100 * 1024
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


async def test_stalled_reader_keeps_memory_bounded(stack: Stack) -> None:
    edge = await up(stack, edge_subscriber_queue=64)
    async with client_for(edge.url, connections=FAST_READERS + 10) as client:
        baseline = rss_kib(edge.pid)
        peak = baseline
        rid = await create_demo(client, tokens=TOKENS, rate=RATE)
        slow = await stalled_reader(edge.port, rid)
        try:
            readers = [
                asyncio.create_task(read_all(client, rid, timeout_s=150))
                for _ in range(FAST_READERS)
            ]
            while not all(r.done() for r in readers):
                peak = max(peak, rss_kib(edge.pid))
                await asyncio.wait(readers, timeout=0.2)
            reads = [r.result() for r in readers]
            peak = max(peak, rss_kib(edge.pid))
            metrics = (await client.get("/metrics")).text
        finally:
            slow.close()
    reference = reads[0].events
    assert_contiguous(reference)
    assert sum(1 for e in reference if e.type == "delta") > TOKENS // 2
    for i, got in enumerate(reads):
        assert got.events == reference, f"reader {i}: {len(got.events)} events"
    growth = peak - baseline
    assert growth < MAX_GROWTH_KIB, f"edge RSS grew {growth} KiB ({baseline} -> {peak})"
    assert overflows(metrics) > 0
