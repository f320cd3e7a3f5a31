"""`tokenrelay up` (what `make run` starts): the local broker unless TOKENRELAY_KAFKA names one,
a worker and an edge, supervised.

Quiet by design: each process writes to `<data dir>/logs/<name>.log`, and the terminal gets one
line per component as it becomes ready, then the demo page's URL once the edge answers. A
component that exits (or never becomes ready) stops the others and ends `up` with status 1 and
the last lines of its log. Ctrl-C (or SIGTERM) stops what `up` started, and only that: a broker
that was already running is left running. Children stop the graceful way (docs/operations.md):
SIGTERM to all at once (Ctrl-C in a terminal has already sent them SIGINT, the same to them),
the edge given STOP_S, the worker its drain (TOKENRELAY_WORKER_DRAIN_S) plus STOP_S, then KILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from app import infra
from app.settings import Settings

WORKER_READY_S = 180.0  # a first start creates the topics and joins the group
EDGE_READY_S = 90.0
POLL_S = 0.2
TAIL_LINES = 30
STOP_S = 15.0  # beyond a worker's drain: Faust's own stop, or an edge's whole shutdown


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    out: IO[bytes] = field(repr=False)
    stop_s: float = STOP_S

    def tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-TAIL_LINES:])

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()

    def stop(self) -> None:
        """After `terminate`: wait for it to exit by itself, for at most `stop_s`."""
        if self.popen.poll() is None:
            try:
                self.popen.wait(self.stop_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self.out.close()


def say(line: str) -> None:
    print(f"tokenrelay: {line}", flush=True)


def run(settings: Settings, demo_url: str) -> int:
    """Start, supervise and stop; the exit status of `tokenrelay up`."""
    logs = Path(settings.data_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TOKENRELAY_EDGE_HOST": settings.edge_host,
        "TOKENRELAY_EDGE_PORT": str(settings.edge_port),
        # The logs go to files: JSON lines (with each response's id) unless said otherwise.
        "TOKENRELAY_LOG_FORMAT": os.environ.get("TOKENRELAY_LOG_FORMAT") or "json",
    }
    own_broker = not os.environ.get("TOKENRELAY_KAFKA")
    started_broker: bool | None = False
    children: list[Child] = []
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the same way as Ctrl-C
    try:
        if own_broker:
            started_broker = _broker_up(settings, logs)
            if started_broker is None:
                return 1
            env["TOKENRELAY_KAFKA"] = (
                f"127.0.0.1:{os.environ.get('TOKENRELAY_BROKER_PORT', '9092')}"
            )
        worker = _spawn("worker", ["worker"], env, logs)
        worker.stop_s = settings.worker_drain_s + STOP_S
        children.append(worker)
        if not _wait(worker, WORKER_READY_S, lambda: "worker ready" in worker.tail()):
            return 1
        metrics = ""
        if settings.worker_metrics_port:
            host, port = settings.worker_metrics_host, settings.worker_metrics_port
            metrics = f" (metrics at http://{host}:{port}/metrics)"
        say(f"worker ready{metrics}")
        edge = _spawn("edge", ["edge"], env, logs)
        children.append(edge)
        base = f"http://{settings.edge_host}:{settings.edge_port}"
        if not _wait(edge, EDGE_READY_S, lambda: _healthy(base)):
            return 1
        say(f"edge ready on {base} (metrics at {base}/metrics, with an API key)")
        say(f"demo page at {demo_url} (Ctrl-C stops; logs in {logs})")
        while True:
            for child in children:
                if child.popen.poll() is not None:
                    _failed(child, "stopped")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        if any(child.popen.poll() is None for child in children):
            say("stopping (the worker lets running responses finish)")
        for child in children:
            child.terminate()
        for child in reversed(children):
            child.stop()
        if started_broker:
            _broker(settings, "stop", stdout=subprocess.DEVNULL)


def _broker(settings: Settings, action: str, **popen: Any) -> int:
    """broker.sh `action`, found in the checkout or the installed package (app/infra.py)."""
    script = ["bash", str(infra.broker_script()), action]
    return subprocess.call(script, env=infra.broker_env(settings), **popen)


def _broker_up(settings: Settings, logs: Path) -> bool | None:
    """Start the local broker: True if this call started it, False if it was running already,
    None if it could not start (said why)."""
    if _broker(settings, "status", stdout=subprocess.DEVNULL) == 0:
        say("broker already running, left as it is at exit")
        return False
    with (logs / "broker-start.log").open("wb") as out:
        code = _broker(settings, "start", stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        lines = (logs / "broker-start.log").read_text(errors="replace").splitlines()
        say("the Kafka broker did not start:\n" + "\n".join(lines[-TAIL_LINES:]))
        return None
    say(f"broker ready on {_broker_address()}")
    return True


def _broker_address() -> str:
    return f"127.0.0.1:{os.environ.get('TOKENRELAY_BROKER_PORT', '9092')}"


def _spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> Child:
    log = logs / f"{name}.log"
    out = log.open("wb")
    popen = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args], env=env, stdin=subprocess.DEVNULL,
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return Child(name, popen, log, out)


def _wait(child: Child, timeout_s: float, ready: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if child.popen.poll() is not None:
            _failed(child, f"exited with status {child.popen.returncode}")
            return False
        if time.monotonic() > deadline:
            _failed(child, f"was not ready after {timeout_s:.0f} s")
            return False
        time.sleep(POLL_S)
    return True


def _failed(child: Child, how: str) -> None:
    say(f"the {child.name} {how}; the last lines of {child.log}:\n{child.tail()}")


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
