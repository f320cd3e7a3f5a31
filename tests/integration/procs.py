"""Real `tokenrelay worker` / `tokenrelay edge` processes for one test, and their logs.

Each process gets os.environ plus every Settings field as TOKENRELAY_*, writes stdout and
stderr to one file under the test's tmp_path, and is stopped (TERM, then KILL) at teardown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from app.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT_S = 90.0
EDGE_READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 150


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """os.environ with every TOKENRELAY_* replaced by the fields of `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    for field in dataclasses.fields(settings):
        env[PREFIX + field.name.upper()] = str(getattr(settings, field.name))
    env["PYTHONUNBUFFERED"] = "1"
    # The worker and edge import app/ and agents/ from this checkout, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


class Proc:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "".join(self.text().splitlines(keepends=True)[-lines:])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if not self.alive:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT_S)

    def describe(self) -> str:
        state = "running" if self.alive else f"exited {self.popen.returncode}"
        return f"{self.name} pid {self.pid} ({state}), log {self.log}"


class Edge(Proc):
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path, port: int) -> None:
        super().__init__(name, popen, log)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


class Stack:
    """The processes of one test; `settings` is what they and the test's Kafka clients use."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.procs: list[Proc] = []

    def settings_with(self, **overrides: Any) -> Settings:
        return dataclasses.replace(self.settings, **overrides)

    def spawn(self, name: str, args: list[str], settings: Settings) -> Proc:
        n = sum(1 for p in self.procs if p.name.startswith(name))
        log = self.workdir / f"{name}-{n}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *args],
                cwd=REPO,
                env=settings_env(settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(f"{name}-{n}", popen, log)
        self.procs.append(proc)
        return proc

    def spawn_edge(self, port: int, **overrides: Any) -> Edge:
        settings = self.settings_with(edge_port=port, **overrides)
        proc = self.spawn("edge", ["edge", "--host", "127.0.0.1", "--port", str(port)], settings)
        edge = Edge(proc.name, proc.popen, proc.log, port)
        self.procs[-1] = edge
        return edge

    async def worker(self, **overrides: Any) -> Proc:
        """Start `tokenrelay worker` and wait for its "worker ready" log line."""
        proc = self.spawn("worker", ["worker"], self.settings_with(**overrides))

        async def ready() -> bool:
            return _worker_ready(proc)

        await _wait_for(proc, ready, WORKER_READY_TIMEOUT_S, "worker ready")
        return proc

    async def edge(self, port: int | None = None, **overrides: Any) -> Edge:
        """Start `tokenrelay edge` on `port` (a free one by default) and wait for /healthz 200."""
        edge = self.spawn_edge(port or free_port(), **overrides)
        async with httpx.AsyncClient(base_url=edge.url, timeout=2.0) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await _wait_for(edge, healthy, EDGE_READY_TIMEOUT_S, "/healthz 200")
        return edge

    def up_blocking(self) -> Edge:
        """A worker and an edge, for module-scoped fixtures that run outside any event loop."""
        worker = self.spawn("worker", ["worker"], self.settings)
        edge = self.spawn_edge(free_port())

        def healthy() -> bool:
            try:
                return httpx.get(f"{edge.url}/healthz", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_blocking(worker, lambda: _worker_ready(worker), WORKER_READY_TIMEOUT_S)
        _wait_blocking(edge, healthy, EDGE_READY_TIMEOUT_S)
        return edge

    def close(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as exc:  # teardown must reach every process
                print(f"stopping {proc.name} failed: {exc!r}")

    def report(self) -> str:
        parts = []
        for proc in self.procs:
            parts.append(f"===== {proc.describe()} (last {LOG_TAIL_LINES} lines) =====")
            parts.append(proc.tail())
        return "\n".join(parts)


def _worker_ready(proc: Proc) -> bool:
    return "worker ready" in proc.text()


def _wait_blocking(proc: Proc, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        _check_waiting(proc, deadline, timeout_s, "ready")
        time.sleep(0.1)


async def _wait_for(
    proc: Proc, ready: Callable[[], Awaitable[bool]], timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await ready():
        _check_waiting(proc, deadline, timeout_s, what)
        await asyncio.sleep(0.1)


def _check_waiting(proc: Proc, deadline: float, timeout_s: float, what: str) -> None:
    if not proc.alive:
        raise AssertionError(
            f"{proc.name} exited ({proc.popen.returncode}) before {what}:\n{proc.tail()}"
        )
    if time.monotonic() > deadline:
        raise AssertionError(f"{proc.name}: not {what} after {timeout_s}s:\n{proc.tail()}")


async def up(stack: Stack, **edge_overrides: Any) -> Edge:
    """A worker and one edge, started side by side; returns the edge once both are ready."""
    worker = asyncio.ensure_future(stack.worker())
    edge = asyncio.ensure_future(stack.edge(**edge_overrides))
    try:
        await asyncio.gather(worker, edge)
    finally:
        for task in (worker, edge):  # one failed: don't leave the other polling
            task.cancel()
        await asyncio.gather(worker, edge, return_exceptions=True)
    return edge.result()
