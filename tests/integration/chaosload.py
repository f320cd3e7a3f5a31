"""The chaos tests' load: slots that keep N demo responses streaming, each to a reader that follows
it through every fault as EventSource does (Last-Event-ID on every reconnect) and records every
event it is sent, as sent (a duplicate or a gap is kept, for the checks to find), with its receive
time and latency (receive wall clock minus the event's `ts`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

TERMINAL = ("done", "error", "cancelled")
RETRY_S = 0.2  # EventSource's reconnect delay is the server's `retry:` or ~1-3 s; ours is brisk
# Answers a resume may get while a node is down (nginx: no edge; the edge: Kafka unreachable, or a
# response it has not found yet): retried. Anything else is a failure the checks report.
TRANSIENT = (404, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class Seen:
    seq: int
    type: str
    recv: float  # time.monotonic()
    latency_ms: float
    code: str | None  # an error's code


@dataclass
class Reader:
    rid: str
    created: float
    events: list[Seen] = field(default_factory=list)
    reconnects: list[float] = field(default_factory=list)
    answers: dict[int, int] = field(default_factory=dict)  # non-200 status -> count

    @property
    def ended(self) -> bool:
        return bool(self.events) and self.events[-1].type in TERMINAL

    def in_progress_at(self, t: float) -> bool:
        """Created before `t` and not yet ended then (by what this reader had received)."""
        if self.created >= t:
            return False
        return not any(e.type in TERMINAL and e.recv <= t for e in self.events)

    def next_after(self, t: float) -> float | None:
        """Seconds from `t` to the first event received after it."""
        return next((e.recv - t for e in self.events if e.recv > t), None)

    async def follow(self, client: httpx.AsyncClient) -> None:
        """Read to the terminal event, reconnecting with Last-Event-ID after any break."""
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.events:
                headers["Last-Event-ID"] = str(self.events[-1].seq)
            try:
                async with client.stream(
                    "GET", f"/v1/responses/{self.rid}/events", headers=headers
                ) as resp:
                    if resp.status_code == 200:
                        await self._read(resp)
                    else:
                        self.answers[resp.status_code] = self.answers.get(resp.status_code, 0) + 1
                        if resp.status_code not in TRANSIENT:
                            return  # the checks report it
            except httpx.TransportError:
                pass  # the edge, nginx or the network went away: reconnect
            if self.ended:
                return
            await asyncio.sleep(RETRY_S)
            self.reconnects.append(time.monotonic())

    async def _read(self, resp: httpx.Response) -> None:
        fields: dict[str, str] = {}
        async for line in resp.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" not in fields:
                fields = {}
                continue
            data = orjson.loads(fields["data"])
            now = time.monotonic()
            latency = time.time() * 1000 - float(data["ts"])
            seq = int(fields["id"])
            assert data["seq"] == seq, (self.rid, fields)
            self.events.append(Seen(seq, data["type"], now, latency, data.get("code")))
            fields = {}
            if data["type"] in TERMINAL:
                return


@dataclass
class Load:
    """`slots` responses streaming at once: each slot creates one, follows it to its end, and
    creates the next, until `stop`."""

    client: httpx.AsyncClient
    slots: int
    body: dict[str, Any]
    readers: list[Reader] = field(default_factory=list)
    create_retries: int = 0
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._slot(i)) for i in range(self.slots)]

    async def stop(self, timeout_s: float) -> None:
        """Create no more; wait for every reader to reach its response's end."""
        self._stopping = True
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*self._tasks)
        except TimeoutError:
            waiting = [(r.rid, r.events[-1].seq if r.events else 0, len(r.reconnects), r.answers)
                       for r in self.readers if not r.ended]  # fmt: skip
            raise AssertionError(f"{len(waiting)} responses never ended: {waiting[:10]}") from None

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _slot(self, i: int) -> None:
        await asyncio.sleep(i * 0.05)  # spread the first wave's creations
        while not self._stopping:
            rid = await self._create()
            reader = Reader(rid, time.monotonic())
            self.readers.append(reader)
            await reader.follow(self.client)
            if not reader.ended:
                return  # a non-transient answer: the checks report it

    async def _create(self) -> str:
        """POST until it is taken: a POST that meets a fault (no edge, Kafka refusing) is retried
        as a client would; these are counted, never a failed stream."""
        while True:
            try:
                resp = await self.client.post("/v1/responses", json=self.body)
                if resp.status_code == 201:
                    return str(resp.json()["id"])
                assert resp.status_code in (502, 503, 504), (resp.status_code, resp.text[:300])
            except httpx.TransportError:
                pass
            self.create_retries += 1
            await asyncio.sleep(0.5)


async def all_resumed(readers: list[Reader], t: float, timeout_s: float) -> None:
    """Wait until every reader in progress at `t` has received an event since (a stream that
    never moves again is a hang: the assertion names the readers still waiting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = [r for r in readers if r.in_progress_at(t) and r.next_after(t) is None]
        if not waiting:
            return
        if time.monotonic() > deadline:
            detail = [(r.rid, r.events[-1].seq if r.events else 0, r.answers) for r in waiting]
            raise AssertionError(f"{len(waiting)} readers had no event {timeout_s:.0f} s after "
                                 f"the fault: {detail[:10]}")  # fmt: skip
        await asyncio.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
