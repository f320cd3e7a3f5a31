"""`tokenrelay cluster up` (`make cluster`): three KRaft brokers, two workers and two edges behind
nginx, all on 127.0.0.1, each started as it would be on a machine of its own (infra/kafka/broker.sh,
`tokenrelay worker`, `tokenrelay edge`, infra/nginx/tokenrelay.conf). `Cluster` is also what the
chaos test drives (tests/integration/test_chaos.py): it kills, pauses and restarts one node at a
time.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from app import cluster_nginx, infra
from app.settings import PREFIX, Settings
from app.up import EDGE_READY_S, POLL_S, TAIL_LINES, WORKER_READY_S

REPLICATION = 3
# Three JVMs beside two workers, two edges and whatever else the machine runs: small heaps.
BROKER_HEAP = "-Xmx384m -Xms128m"
# How soon the controllers fence a broker that stopped heart-beating (Kafka's default is 9 s):
# its partitions' leadership moves, and it leaves their ISRs, after this long.
BROKER_SESSION_TIMEOUT_MS = 4000
# A SIGKILLed worker stays a member of its consumer groups for the session timeout; on one
# machine 3 s of silence is a dead process, not a slow network.
WORKER_SESSION_TIMEOUT_S = 3.0
BROKER_START_S = 180.0  # three JVMs starting at once on two cores, and a first fetch of the jars
NGINX_READY_S = 20.0


class ClusterError(RuntimeError):
    """A node did not start or stopped; the message ends with the last lines of its log."""


@dataclass(frozen=True)
class Layout:
    """Where everything listens and keeps its files. The defaults put broker 1 on 9092, so the
    CLI's defaults (`tokenrelay tail`, `publish`) reach the cluster as they reach `make run`'s."""

    dir: Path
    brokers: tuple[tuple[int, int], ...] = ((9092, 9093), (9094, 9095), (9096, 9097))
    edges: tuple[int, ...] = (8000, 8010)
    worker_metrics: tuple[int, ...] = (8001, 8011)
    nginx: int = 8080

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port, _ in self.brokers)

    @property
    def voters(self) -> str:
        return ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(self.brokers))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx}"


def cluster_settings(base: Settings, layout: Layout, environ: Mapping[str, str]) -> Settings:
    """`base` pointed at the cluster's brokers, with the cluster's defaults for what `environ`
    does not set: replication 3, a short worker session, nginx trusted for X-Forwarded-For (so
    the per-client connection limit counts clients, not nginx)."""
    defaults = {
        "replication": REPLICATION,
        "worker_session_timeout_s": WORKER_SESSION_TIMEOUT_S,
        "edge_trusted_proxies": "127.0.0.1",
    }
    chosen = {k: v for k, v in defaults.items() if not environ.get(PREFIX + k.upper())}
    return dataclasses.replace(base, kafka=layout.bootstrap, **chosen)  # type: ignore[arg-type]


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker or edge: this one's, every TOKENRELAY_* from `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    for field in dataclasses.fields(settings):
        env[PREFIX + field.name.upper()] = str(getattr(settings, field.name))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Proc:
    """One life of a worker, edge or nginx; its output is appended to the node's log, from
    `offset` on (a restarted node's readiness is judged on its new lines only)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    offset: int
    out: IO[bytes] = dataclasses.field(repr=False)

    def output(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def tail(self) -> str:
        return "\n".join(self.output().splitlines()[-TAIL_LINES:])

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        self.popen.kill()
        self.popen.wait(10)
        self.out.close()

    def stop(self) -> None:
        if self.alive:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self.out.close()


class Cluster:
    """The nodes of one cluster; `settings` are what its workers and edges run with."""

    def __init__(self, settings: Settings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout
        self.logs = layout.dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.workers: list[Proc | None] = [None] * len(layout.worker_metrics)
        self.edges: list[Proc | None] = [None] * len(layout.edges)
        self.nginx: Proc | None = None
        self.started_brokers: set[int] = set()

    # -- brokers: infra/kafka/broker.sh, one data dir and one pair of ports per node ----------

    def broker_dir(self, i: int) -> Path:
        return self.layout.dir / f"broker-{i + 1}"

    def broker_env(self, i: int) -> dict[str, str]:
        port, controller = self.layout.brokers[i]
        env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX + "BROKER_")}
        return env | {
            "TOKENRELAY_BROKER_DIR": str(self.broker_dir(i)),
            "TOKENRELAY_BROKER_PORT": str(port),
            "TOKENRELAY_BROKER_CONTROLLER_PORT": str(controller),
            "TOKENRELAY_BROKER_NODE_ID": str(i + 1),
            "TOKENRELAY_BROKER_VOTERS": self.layout.voters,
            "TOKENRELAY_BROKER_CLUSTER_ID": self._cluster_id(),
            "TOKENRELAY_BROKER_REPLICATION": str(REPLICATION),
            "TOKENRELAY_BROKER_SESSION_TIMEOUT_MS": str(BROKER_SESSION_TIMEOUT_MS),
            "TOKENRELAY_BROKER_HEAP": os.environ.get("TOKENRELAY_BROKER_HEAP", BROKER_HEAP),
        }

    def _cluster_id(self) -> str:
        """Every node is formatted with this id (kept in the cluster's dir): as StorageTool's
        random-uuid, 16 random bytes in base64url, never starting with '-'."""
        path = self.layout.dir / "cluster.id"
        if not path.exists():
            cid = "-"
            while cid.startswith("-"):
                cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
            path.write_text(cid + "\n")
        return path.read_text().strip()

    def broker(self, i: int, action: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"broker-{i + 1}-{action}.log").open("wb")
        with log:
            return subprocess.Popen(
                ["bash", str(infra.broker_script()), action], env=self.broker_env(i),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def start_brokers(self, nodes: Sequence[int] | None = None) -> None:
        """Start `nodes` (default: all) at once and wait for each: a node of a static quorum
        becomes ready only once a majority of the controllers runs, so one at a time would hang."""
        nodes = range(len(self.layout.brokers)) if nodes is None else nodes
        running = {i for i in nodes if self.broker_pid(i) is not None}
        starts = {i: self.broker(i, "start") for i in nodes}
        failed = [i for i, p in starts.items() if p.wait(BROKER_START_S + 30) != 0]
        self.started_brokers |= set(nodes) - running - set(failed)
        if failed:
            i = failed[0]
            said = (self.logs / f"broker-{i + 1}-start.log").read_text(errors="replace")
            raise ClusterError(f"broker {i + 1} did not start:\n{said}")

    def broker_pid(self, i: int) -> int | None:
        """The node's JVM, if it runs (broker.sh's own test: its pid file and command line)."""
        try:
            pid = int((self.broker_dir(i) / "broker.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if str(self.broker_dir(i) / "server.properties").encode() in cmdline else None

    def stop_brokers(self, nodes: Sequence[int]) -> None:
        for p in [self.broker(i, "stop") for i in nodes]:
            p.wait(60)
        self.started_brokers -= set(nodes)

    # -- workers, edges, nginx: child processes, logs appended per node ------------------------

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None) -> Proc:
        log = self.logs / f"{name}.log"
        out = log.open("ab")
        offset = out.tell()
        popen = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        return Proc(name, popen, log, offset, out)

    def start_worker(self, i: int) -> Proc:
        settings = dataclasses.replace(
            self.settings,
            worker_metrics_port=self.layout.worker_metrics[i],
            worker_datadir=str(self.layout.dir / f"worker-{i + 1}"),
        )
        env = child_env(settings)
        proc = self._spawn(f"worker-{i + 1}", [sys.executable, "-m", "app.cli", "worker"], env)
        self.workers[i] = proc
        return proc

    def start_edge(self, i: int) -> Proc:
        env = child_env(dataclasses.replace(self.settings, edge_port=self.layout.edges[i]))
        proc = self._spawn(f"edge-{i + 1}", [sys.executable, "-m", "app.cli", "edge"], env)
        self.edges[i] = proc
        return proc

    def start_nginx(self) -> Proc:
        directory = self.layout.dir / "nginx"
        site = cluster_nginx.site(self.layout.nginx, list(self.layout.edges))
        cluster_nginx.write_config(directory, site)
        self.nginx = self._spawn("nginx", cluster_nginx.command(directory), None)
        return self.nginx

    def wait_worker(self, i: int) -> None:
        proc = self.workers[i]
        assert proc is not None
        wait(proc, WORKER_READY_S, lambda: "worker ready" in proc.output())

    def wait_edge(self, i: int) -> None:
        url = f"http://127.0.0.1:{self.layout.edges[i]}/healthz"
        proc = self.edges[i]
        assert proc is not None
        wait(proc, EDGE_READY_S, lambda: _answers(url, 200))

    def wait_nginx(self) -> None:
        assert self.nginx is not None
        wait(self.nginx, NGINX_READY_S, lambda: _answers(f"{self.layout.url}/healthz", None))

    def processes(self) -> list[Proc]:
        return [p for p in (*self.workers, *self.edges, self.nginx) if p is not None]

    def stop(self) -> None:
        """Stop what this cluster started: nginx, edges, workers, then its brokers."""
        for proc in reversed(self.processes()):
            proc.stop()
        self.stop_brokers(sorted(self.started_brokers))


def wait(proc: Proc, timeout_s: float, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not proc.alive:
            raise ClusterError(
                f"{proc.name} exited with status {proc.popen.returncode}; "
                f"the last lines of {proc.log}:\n{proc.tail()}"
            )
        if time.monotonic() > deadline:
            raise ClusterError(
                f"{proc.name} was not ready after {timeout_s:.0f} s; "
                f"the last lines of {proc.log}:\n{proc.tail()}"
            )
        time.sleep(POLL_S)


def _answers(url: str, status: int | None) -> bool:
    """Whether `url` answers (with `status`, unless None: nginx answers 502 with no edge yet)."""
    try:
        got = httpx.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return False
    return status is None or got == status
