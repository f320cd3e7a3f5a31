"""The three systems behind one interface for a load run: make the streams, say where a reader
connects, start every stream's schedule at one instant, collect the producer's report."""

# tokenrelay's tokens come from a load-generator process through the SDK (app.producer), not
# from the demo model: the schedule is then exact, the producer's CPU is counted apart from the
# worker's, and the worker does only what it does in production with a real model (sequence).

from __future__ import annotations

from typing import Any, Protocol

from bench import sseclient
from bench.loadproc import LoadProc
from bench.procs import Children
from bench.stack import Baseline, Broker, Peer, TokenRelay

TEXT = " token"  # what one delta carries, in every system


class System(Protocol):
    name: str
    port: int

    async def prepare(self, ids: list[str], tokens: int, rate: float, window: list[float]) -> None:
        """Create the streams so readers can connect before the first token."""

    def reader(self, sid: str) -> dict[str, Any]: ...

    async def go(self, start_at: float) -> None: ...

    async def collect(self) -> dict[str, Any]: ...

    def abort(self) -> None:
        """Stop whatever `prepare` started (a failed run)."""

    def pids(self) -> dict[str, int]: ...


class TokenRelaySystem:
    name = "tokenrelay"

    def __init__(self, children: Children, stack: TokenRelay, broker: Broker) -> None:
        self.children, self.stack, self.broker = children, stack, broker
        self.producer: LoadProc | None = None

    @property
    def port(self) -> int:
        return self.stack.port

    async def prepare(self, ids: list[str], tokens: int, rate: float, window: list[float]) -> None:
        self.producer = LoadProc(self.children, f"{ids[0]}-produce", {
            "task": "produce", "kafka": self.stack.kafka,
            "topic_prefix": self.stack.settings.topic_prefix, "rids": ids, "tokens": tokens,
            "rate": rate, "text": TEXT, "window": window,
        })
        await self.producer.start()
        await self.producer.expect("ready", 120)

    def reader(self, sid: str) -> dict[str, Any]:
        return {"path": f"/v1/responses/{sid}/events"}

    async def go(self, start_at: float) -> None:
        assert self.producer is not None
        self.producer.send({"start_at": start_at})

    async def collect(self) -> dict[str, Any]:
        assert self.producer is not None
        got = await self.producer.result(120)
        self.producer = None
        return got

    def abort(self) -> None:
        if self.producer is not None:
            self.producer.kill()
            self.producer = None

    def pids(self) -> dict[str, int]:
        out = self.stack.pids()
        if self.broker.pid:
            out["broker"] = self.broker.pid
        if self.producer is not None and self.producer.proc is not None:
            out["loadgen-produce"] = self.producer.pid
        return out


class BaselineSystem:
    name = "baseline"

    def __init__(self, server: Baseline) -> None:
        self.server = server
        self.spec: dict[str, Any] = {}

    @property
    def port(self) -> int:
        return self.server.port

    async def prepare(self, ids: list[str], tokens: int, rate: float, window: list[float]) -> None:
        self.spec = {"ids": ids, "tokens": tokens, "rate": rate, "text": TEXT}

    def reader(self, sid: str) -> dict[str, Any]:
        return {"path": f"/streams/{sid}"}

    async def go(self, start_at: float) -> None:
        status, _ = await sseclient.post_json("127.0.0.1", self.port, "/start",
                                              {**self.spec, "start_at": start_at})
        if status != 200:
            raise RuntimeError(f"baseline /start: {status}")

    async def collect(self) -> dict[str, Any]:
        return {}

    def abort(self) -> None:
        pass

    def pids(self) -> dict[str, int]:
        return self.server.pids()


class PeerSystem:
    name = "peer"

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.spec: dict[str, Any] = {}

    @property
    def port(self) -> int:
        return self.peer.port

    async def prepare(self, ids: list[str], tokens: int, rate: float, window: list[float]) -> None:
        status, _ = await sseclient.post_json("127.0.0.1", self.peer.producer_port, "/create",
                                              {"ids": ids})
        if status != 200:
            raise RuntimeError(f"peer /create: {status}")
        self.spec = {"ids": ids, "tokens": tokens, "rate": rate, "text": TEXT}

    def reader(self, sid: str) -> dict[str, Any]:
        return {"path": f"/streams/{sid}"}

    async def go(self, start_at: float) -> None:
        status, _ = await sseclient.post_json("127.0.0.1", self.peer.producer_port, "/start",
                                              {**self.spec, "start_at": start_at})
        if status != 200:
            raise RuntimeError(f"peer /start: {status}")

    async def collect(self) -> dict[str, Any]:
        return {}

    def abort(self) -> None:
        pass

    def pids(self) -> dict[str, int]:
        return self.peer.pids()
