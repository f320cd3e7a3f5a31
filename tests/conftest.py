"""Fixtures shared by every test tier: the session's Kafka broker and per-phase test reports.

The broker is Apache Kafka itself, started by infra/kafka/broker.sh on free ports in a temporary
data dir. It is started only when a test asks for it (unit tests never do), and a broker that
does not come up fails those tests: CI must never pass by skipping Kafka.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pg import database_url, postgres  # noqa: F401 (fixtures for every tier)

REPO = Path(__file__).resolve().parent.parent
BROKER_SH = REPO / "infra" / "kafka" / "broker.sh"
# The first start on a fresh machine fetches Kafka's jars with Maven.
BROKER_START_TIMEOUT_S = 600
BROKER_STOP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    port: int
    controller_port: int
    dir: Path
    env: dict[str, str]

    def script(
        self, *args: str, timeout: float, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run broker.sh with this broker's environment (e.g. `console-consumer ...`)."""
        return subprocess.run(
            ["bash", str(BROKER_SH), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


@contextmanager
def running_broker(data_dir: Path, **extra_env: str) -> Iterator[Broker]:
    """A broker of its own on free ports in `data_dir`, stopped on exit; `extra_env` adds
    broker.sh settings (its secured listeners)."""
    taken = set(extra_env.values())  # the secured listeners' ports, chosen by the caller
    ports: list[int] = []
    while len(ports) < 2:
        candidate = free_port()
        if candidate not in ports and str(candidate) not in taken:
            ports.append(candidate)
    port, controller_port = ports
    env = {
        **os.environ,
        "TOKENRELAY_BROKER_PORT": str(port),
        "TOKENRELAY_BROKER_CONTROLLER_PORT": str(controller_port),
        "TOKENRELAY_BROKER_DIR": str(data_dir),
        **extra_env,
    }
    b = Broker(f"127.0.0.1:{port}", port, controller_port, data_dir, env)
    try:
        started = b.script("start", timeout=BROKER_START_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        b.script("stop", timeout=BROKER_STOP_TIMEOUT_S)
        pytest.fail(f"broker.sh start did not finish in {exc.timeout}s:\n{_broker_log(b)}")
    if started.returncode != 0:
        b.script("stop", timeout=BROKER_STOP_TIMEOUT_S)
        pytest.fail(
            f"broker.sh start failed ({started.returncode}):\n{started.stdout}\n{started.stderr}"
            f"\n{_broker_log(b)}"
        )
    try:
        yield b
    finally:
        b.script("stop", timeout=BROKER_STOP_TIMEOUT_S)


def _broker_log(b: Broker) -> str:
    log = b.dir / "broker.log"
    if not log.exists():
        return "(no broker.log)"
    return "".join(log.read_text(errors="replace").splitlines(keepends=True)[-60:])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Fixtures read item.rep_setup / item.rep_call at teardown to decide whether to dump logs.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True, scope="module")
def _garbage_collected_per_module() -> Iterator[None]:
    """A socket or transport a module's tests left unclosed fails that module (its last test's
    teardown: warnings are errors here), not whichever later test a collection runs in."""
    yield
    gc.collect()
