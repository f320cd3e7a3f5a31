"""The systems behind one interface for a load run: make the streams, say where a reader
connects and what text it will read, start every stream's schedule at one instant (or say the
instant it fixed itself), collect the producer's report.

- `tokenrelay`: the product's own path. Each response is created with `POST /v1/responses`
  (model `demo`), so the worker's demo model makes its tokens and its writer publishes them;
  `first_token_ms` is set per response so that its first token is due at the run's start
  (plus its slot in the schedule), late enough that every reader is connected before.
- `tokenrelay-sdk`: a load-generator process publishes the tokens with app.producer.Publisher on
  an exact schedule; the worker is not on this path.
- `baseline` and `peer` run the same schedule formula in their own producer.

Token i of stream j of n is due at start + (i * n + j) / (rate * n), on every system.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench import sseclient
from bench.loadproc import LoadProc
from bench.procs import Children
from bench.stack import Baseline, Broker, Peer, TokenRelay

TEXT = " token"  # what one token is, on every system but tokenrelay's POST path
PROMPT = "How does a Kafka consumer group rebalance when a member leaves?"
# The POST path fixes its start when it creates the responses: `lead_ms` (the mode's
# post_lead_ms) after the first POST plus this much per response (the POSTs, then the readers
# connecting, must fit before it).
POST_LEAD_PER_RESPONSE_MS = 3.0
POST_CONCURRENCY = 32
POST_TIMEOUT_S = 60.0


@dataclass
class Plan:
    ids: list[str]  # the streams, in schedule order
    expect: dict[str, Any]  # what each carries: bench.tasks.load.Expected's spec
    start_at: float | None = None  # epoch ms, when the system fixed it itself
    notes: dict[str, Any] = field(default_factory=dict)


class System(Protocol):
    name: str
    port: int
    # The processes that serve readers (CPU per token is summed over these).
    server_side: tuple[str, ...]

    async def prepare(
        self, label: str, n: int, tokens: int, rate: float, window: list[float]
    ) -> Plan:
        """Create the streams so readers can connect before the first token."""

    def reader(self, sid: str) -> dict[str, Any]: ...

    async def go(self, start_at: float) -> None: ...

    async def collect(self) -> dict[str, Any]: ...

    def abort(self) -> None:
        """Stop whatever `prepare` started (a failed run)."""

    def pids(self) -> dict[str, int]: ...


def due_ms(j: int, n: int, rate: float) -> float:
    """When stream j of n has its first token, in ms after the start."""
    return j * 1000.0 / (rate * n) if rate > 0 else 0.0


def text_expect(tokens: int) -> dict[str, Any]:
    return {"kind": "text", "text": TEXT, "tokens": tokens}


class TokenRelayPostSystem:
    """Responses created with POST /v1/responses; the worker's demo model makes the tokens."""

    name = "tokenrelay"
    server_side = ("broker", "worker", "edge")

    def __init__(
        self,
        stack: TokenRelay,
        broker: Broker,
        lead_ms: float,
        views: tuple[str, ...] = (),
        options: dict[str, Any] | None = None,
        read_view: str | None = None,
    ) -> None:
        self.stack, self.broker, self.lead_ms = stack, broker, lead_ms
        # The views scenario: every response asks for `views`; readers read `read_view`.
        self.views, self.read_view, self.options = views, read_view, options or {}

    @property
    def port(self) -> int:
        return self.stack.port

    async def prepare(
        self, label: str, n: int, tokens: int, rate: float, window: list[float]
    ) -> Plan:
        t0 = time.time() * 1000
        start_at = t0 + self.lead_ms + POST_LEAD_PER_RESPONSE_MS * n
        ids: list[str | None] = [None] * n
        late: list[float] = []
        limit = asyncio.Semaphore(POST_CONCURRENCY)

        async def create(j: int) -> None:
            async with limit:
                first = start_at + due_ms(j, n, rate) - time.time() * 1000
                if first < 0:
                    late.append(-first)
                body = {
                    "model": "demo",
                    "input": PROMPT,
                    "params": {
                        "tokens": tokens,
                        "rate": rate,
                        "first_token_ms": round(max(0.0, first), 3),
                    },
                    **({"views": list(self.views), **self.options} if self.views else {}),
                }
                status, got = await sseclient.post_json(
                    "127.0.0.1", self.port, "/v1/responses", body
                )
                if status != 201:
                    raise RuntimeError(f"POST /v1/responses: {status} {got}")
                ids[j] = str(got["id"])

        async with asyncio.timeout(POST_TIMEOUT_S):
            await asyncio.gather(*(create(j) for j in range(n)))
        posted_ms = time.time() * 1000 - t0
        return Plan(
            [i for i in ids if i is not None],
            {"kind": "demo", "prompt": PROMPT, "tokens": tokens},
            start_at,
            {
                "post_ms": round(posted_ms, 1),
                "lead_ms": round(start_at - t0, 1),
                "posted_late": len(late),
            },
        )

    def reader(self, sid: str) -> dict[str, Any]:
        view = f"?view={self.read_view}" if self.read_view else ""
        return {"path": f"/v1/responses/{sid}/events{view}"}

    async def go(self, start_at: float) -> None:
        pass  # each response's first_token_ms already says when it starts

    async def collect(self) -> dict[str, Any]:
        return {}

    def abort(self) -> None:
        pass  # a restart on fresh topics (load.after_run) leaves the responses behind

    def pids(self) -> dict[str, int]:
        out = self.stack.pids()
        if self.broker.pid:
            out["broker"] = self.broker.pid
        return out


class TokenRelaySdkSystem:
    """Tokens published by a load-generator process with the SDK (app.producer.Publisher)."""

    name = "tokenrelay-sdk"
    server_side = ("broker", "worker", "edge", "loadgen-produce")

    def __init__(self, children: Children, stack: TokenRelay, broker: Broker) -> None:
        self.children, self.stack, self.broker = children, stack, broker
        self.producer: LoadProc | None = None

    @property
    def port(self) -> int:
        return self.stack.port

    async def prepare(
        self, label: str, n: int, tokens: int, rate: float, window: list[float]
    ) -> Plan:
        ids = [f"{label}-{i}" for i in range(n)]
        self.producer = LoadProc(
            self.children,
            f"{label}-produce",
            {
                "task": "produce",
                "kafka": self.stack.kafka,
                "topic_prefix": self.stack.settings.topic_prefix,
                "rids": ids,
                "tokens": tokens,
                "rate": rate,
                "text": TEXT,
                "window": window,
            },
        )
        await self.producer.start()
        await self.producer.expect("ready", 120)
        return Plan(ids, text_expect(tokens))

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
    server_side = ("baseline",)

    def __init__(self, server: Baseline) -> None:
        self.server = server
        self.spec: dict[str, Any] = {}

    @property
    def port(self) -> int:
        return self.server.port

    async def prepare(
        self, label: str, n: int, tokens: int, rate: float, window: list[float]
    ) -> Plan:
        ids = [f"{label}-{i}" for i in range(n)]
        self.spec = {"ids": ids, "tokens": tokens, "rate": rate, "text": TEXT}
        return Plan(ids, text_expect(tokens))

    def reader(self, sid: str) -> dict[str, Any]:
        return {"path": f"/streams/{sid}"}

    async def go(self, start_at: float) -> None:
        status, _ = await sseclient.post_json(
            "127.0.0.1", self.port, "/start", {**self.spec, "start_at": start_at}
        )
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
    server_side = ("redis", "peer-producer", "peer-edge")

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.spec: dict[str, Any] = {}

    @property
    def port(self) -> int:
        return self.peer.port

    async def prepare(
        self, label: str, n: int, tokens: int, rate: float, window: list[float]
    ) -> Plan:
        ids = [f"{label}-{i}" for i in range(n)]
        status, _ = await sseclient.post_json(
            "127.0.0.1", self.peer.producer_port, "/create", {"ids": ids}
        )
        if status != 200:
            raise RuntimeError(f"peer /create: {status}")
        self.spec = {"ids": ids, "tokens": tokens, "rate": rate, "text": TEXT}
        return Plan(ids, text_expect(tokens))

    def reader(self, sid: str) -> dict[str, Any]:
        return {"path": f"/streams/{sid}"}

    async def go(self, start_at: float) -> None:
        status, _ = await sseclient.post_json(
            "127.0.0.1", self.peer.producer_port, "/start", {**self.spec, "start_at": start_at}
        )
        if status != 200:
            raise RuntimeError(f"peer /start: {status}")

    async def collect(self) -> dict[str, Any]:
        return {}

    def abort(self) -> None:
        pass

    def pids(self) -> dict[str, int]:
        return self.peer.pids()
