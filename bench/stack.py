"""The systems under test as processes: a Kafka broker (ours on free ports, or one given), the
tokenrelay worker + edge, the Starlette baseline, and the peer (redis-server and two Node
processes running vercel's resumable-stream). Each knows its pids for CPU accounting."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from app.settings import PREFIX, Settings
from bench import sseclient
from bench.procs import REPO, Child, Children, child_env, free_port, port_open, wait_until

BROKER_SH = REPO / "infra" / "kafka" / "broker.sh"
# After a (re)start, one demo response through POST must reach its end within this long.
CHECK_TIMEOUT_S = 60
# The worker's per-worker limit of concurrent model calls (64 by default, a guard for real
# upstreams) would queue the POST path's 500 and 1,000 concurrent demo responses.
GENERATION_CONCURRENCY = 2048
PEER_DIR = REPO / "bench" / "peer"


class Broker:
    def __init__(self, children: Children, bootstrap: str | None, broker_dir: str | None) -> None:
        self.children = children
        self.bootstrap = bootstrap or ""
        self.dir = Path(broker_dir) if broker_dir else None
        self.env: dict[str, str] = {}

    async def start(self) -> None:
        if self.bootstrap:
            return  # given: someone else owns it
        port, controller = free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tokenrelay-bench-broker-"))
        self.env = child_env(
            {
                "TOKENRELAY_BROKER_PORT": str(port),
                "TOKENRELAY_BROKER_CONTROLLER_PORT": str(controller),
                "TOKENRELAY_BROKER_DIR": str(self.dir),
            }
        )
        self.children.on_close.append(self.stop)
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", str(BROKER_SH), "start"],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"broker.sh start failed:\n{done.stdout}\n{done.stderr}")
        self.bootstrap = f"127.0.0.1:{port}"

    def stop(self) -> None:
        if self.env:
            subprocess.run(
                ["bash", str(BROKER_SH), "stop"],
                env=self.env,
                cwd=REPO,
                capture_output=True,
                timeout=120,
            )
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.env = {}

    @property
    def pid(self) -> int | None:
        try:
            return int((self.dir / "broker.pid").read_text()) if self.dir else None
        except (OSError, ValueError):
            return None


class TokenRelay:
    """One worker and one edge on their own topic prefix. `restart` moves to a fresh prefix,
    leaving an overloaded run's backlog behind instead of letting it spill into the next run."""

    def __init__(self, children: Children, kafka: str, workdir: Path) -> None:
        self.children, self.kafka, self.workdir = children, kafka, workdir
        self.settings = Settings(kafka=kafka)
        self.database = workdir / "tokenrelay.db"
        self.worker: Child | None = None
        self.edge: Child | None = None
        self.port = 0

    async def start(self, **overrides: Any) -> None:
        """`overrides`: settings of this run's own (the soak's directory size)."""
        prefix = f"bench{secrets.token_hex(4)}"
        self.port = free_port()
        self.database = self.workdir / f"{prefix}.db"
        self.settings = Settings(
            kafka=self.kafka,
            topic_prefix=prefix,
            edge_port=self.port,
            worker_datadir=str(self.workdir / prefix),
            generation_concurrency=GENERATION_CONCURRENCY,
            worker_metrics_port=0,
            # Each stack its own database (the persist agent's; bench/persistlag.py reads it),
            # never the checkout's development one.
            database_url=f"sqlite+aiosqlite:///{self.database}",
            # The load generators send no API key (the cost of a key check is one cached look-up).
            auth="off",
            # Thousands of readers from one address (the load generators'): no per-client or
            # per-credential connection limit, as for an edge behind a proxy that counts them.
            edge_max_connections_per_client=0,
            edge_max_connections_per_token=0,
            data_dir=str(self.workdir / prefix),
            **overrides,
        )
        env = _env(self.settings)
        self.worker = self.children.python("worker", ["-m", "app.cli", "worker"], env)
        worker = self.worker
        await wait_until(lambda: "worker ready" in worker.tail(400), worker, 120, "worker ready")
        self.edge = self.children.python(
            "edge", ["-m", "app.cli", "edge", "--host", "127.0.0.1", "--port", str(self.port)], env
        )
        await wait_until(lambda: _healthy(self.port), self.edge, 90, "edge /healthz 200")
        await self._check()

    async def _check(self) -> None:
        """One short demo response created with POST and read to its end: the stack works end
        to end before anything is measured (a broken worker or edge fails here, clearly)."""
        body = {"model": "demo", "input": "check", "params": {"tokens": 3, "rate": 0}}
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                while True:  # the worker may still be joining its group
                    status, got = await sseclient.post_json(
                        "127.0.0.1", self.port, "/v1/responses", body
                    )
                    if status == 201:
                        break
                    await asyncio.sleep(0.2)
                resp = await sseclient.request("127.0.0.1", self.port, "GET", got["events_url"])
                try:
                    async for _, events in resp.batches():
                        if any(ev.type in ("done", "error", "cancelled") for ev in events):
                            return
                finally:
                    resp.close()
                raise RuntimeError(f"check response {got['id']} ended without a terminal event")
        except TimeoutError:
            tails = "\n".join(f"--- {c.name}\n{c.tail()}" for c in (self.worker, self.edge) if c)
            raise RuntimeError(
                f"tokenrelay: a demo response did not finish within "
                f"{CHECK_TIMEOUT_S}s of start\n{tails}"
            ) from None

    async def archive_edge(self) -> tuple[Child, int]:
        """A second edge on the same database but topics of its own: Kafka holds none of the
        stack's responses for it, so it serves a finished one from storage (the replay beyond
        retention). The caller stops it."""
        port = free_port()
        settings = dataclasses.replace(
            self.settings, topic_prefix=self.settings.topic_prefix + "archive", edge_port=port
        )
        edge = self.children.python(
            "edge-archive",
            ["-m", "app.cli", "edge", "--host", "127.0.0.1", "--port", str(port)],
            _env(settings),
        )
        await wait_until(lambda: _healthy(port), edge, 90, "archive edge /healthz 200")
        return edge, port

    async def restart(self) -> None:
        for child in (self.edge, self.worker):
            if child is not None:
                child.stop()
        await self.start()

    def pids(self) -> dict[str, int]:
        return {c.name.split("#")[0]: c.pid for c in (self.worker, self.edge) if c and c.alive}


class Baseline:
    def __init__(self, children: Children) -> None:
        self.children = children
        self.port = 0
        self.proc: Child | None = None

    async def start(self) -> None:
        self.port = free_port()
        self.proc = self.children.python(
            "baseline", ["-m", "bench.baseline", "--port", str(self.port)]
        )
        await wait_until(lambda: _healthy(self.port), self.proc, 30, "baseline up")

    def pids(self) -> dict[str, int]:
        return {"baseline": self.proc.pid} if self.proc else {}


class Peer:
    def __init__(self, children: Children, workdir: Path) -> None:
        self.children, self.workdir = children, workdir
        self.redis: Child | None = None
        self.producer: Child | None = None
        self.edge: Child | None = None
        self.producer_port = self.port = 0

    async def start(self) -> None:
        ensure_peer_deps()
        redis_port = free_port()
        rdir = self.workdir / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        self.redis = self.children.spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(rdir),
                "--maxclients",
                "20000",
            ],
        )
        await wait_until(lambda: port_open(redis_port), self.redis, 20, "redis-server up")
        url, prefix = f"redis://127.0.0.1:{redis_port}", f"bench{secrets.token_hex(4)}"
        self.producer_port, self.port = free_port(), free_port()
        node = shutil.which("node") or "node"
        self.producer = self.children.spawn(
            "peer-producer",
            [
                node,
                str(PEER_DIR / "peer.mjs"),
                "producer",
                "--port",
                str(self.producer_port),
                "--redis",
                url,
                "--prefix",
                prefix,
            ],
        )
        self.edge = self.children.spawn(
            "peer-edge",
            [
                node,
                str(PEER_DIR / "peer.mjs"),
                "edge",
                "--port",
                str(self.port),
                "--redis",
                url,
                "--prefix",
                prefix,
            ],
        )
        await wait_until(lambda: _healthy(self.producer_port), self.producer, 30, "peer producer")
        await wait_until(lambda: _healthy(self.port), self.edge, 30, "peer edge")

    def pids(self) -> dict[str, int]:
        named = {"redis": self.redis, "peer-producer": self.producer, "peer-edge": self.edge}
        return {name: c.pid for name, c in named.items() if c is not None}


def ensure_peer_deps() -> None:
    """`npm ci` in bench/peer unless its node_modules matches package-lock.json already."""
    lock = PEER_DIR / "package-lock.json"
    stamp = PEER_DIR / "node_modules" / ".package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEER_DIR,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )


def _env(settings: Settings) -> dict[str, str]:
    return child_env(
        {PREFIX + f.name.upper(): str(getattr(settings, f.name))
         for f in dataclasses.fields(settings)}  # fmt: skip
    )


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
