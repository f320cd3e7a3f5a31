"""Every process the harness starts, in one registry that stops them all on the way out: on
success, failure, Ctrl-C or SIGTERM. Children also get SIGTERM if the harness itself dies
(PR_SET_PDEATHSIG), and inherit its raised open-files limit. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile() -> int:
    """Raise this process's open-files soft limit to its hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: cleanup falls to the registry alone


class Child:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.popen, self.log = name, popen, log

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "".join(text.splitlines(keepends=True)[-lines:])

    def stop(self) -> None:
        if not self.alive:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=STOP_TIMEOUT_S)


class Children:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[Child] = []
        self.on_close: list[Callable[[], None]] = []
        logdir.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        n = sum(1 for c in self.procs if c.name.split("#")[0] == name)
        log = self.logdir / f"{name}-{n}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env or child_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        child = Child(f"{name}#{n}", popen, log)
        self.procs.append(child)
        return child

    def python(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        return self.spawn(name, [sys.executable, *args], env)

    def close(self) -> None:
        for child in reversed(self.procs):
            try:
                child.stop()
            except Exception as exc:  # teardown must reach every process
                print(f"bench: stopping {child.name} failed: {exc!r}", file=sys.stderr)
        for hook in reversed(self.on_close):
            try:
                hook()
            except Exception as exc:
                print(f"bench: cleanup failed: {exc!r}", file=sys.stderr)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENRELAY_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


async def wait_until(
    ready: Callable[[], bool], child: Child | None, timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if child is not None and not child.alive:
            raise RuntimeError(f"{child.name} exited before {what}:\n{child.tail()}")
        if time.monotonic() > deadline:
            tail = child.tail() if child is not None else ""
            raise RuntimeError(f"not {what} after {timeout_s:.0f}s\n{tail}")
        await asyncio.sleep(0.1)


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
