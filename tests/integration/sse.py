"""A strict SSE reader over httpx for the edge's event streams, and checks on what it read.

`read_events` parses `id:` / `event:` / `data:` lines into SseEvent(seq, type, data), counts
`: ping` comments, and can stop after N events (closing the connection: a client drop).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

TERMINAL = ("done", "error", "cancelled")
READ_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class SseEvent:
    seq: int
    type: str
    data: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.data.get("text") or "")


@dataclass
class SseRead:
    status: int
    headers: httpx.Headers
    events: list[SseEvent] = field(default_factory=list)
    pings: int = 0
    body: bytes = b""  # non-200 answers only
    ended: str = ""  # "limit", "terminal" or "eof"
    reconnects: int = 0  # by read_all, after the edge ended a stream before its terminal

    @property
    def error(self) -> dict[str, Any] | None:
        if self.status == 200 or not self.body:
            return None
        obj = orjson.loads(self.body)
        return obj if isinstance(obj, dict) else None

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]


def events_url(rid: str) -> str:
    return f"/v1/responses/{rid}/events"


async def read_events(
    client: httpx.AsyncClient,
    rid: str,
    *,
    after: int | str | None = None,
    last_event_id: str | int | None = None,
    limit: int | None = None,
    timeout_s: float = READ_TIMEOUT_S,
    into: SseRead | None = None,
    view: str | None = None,
) -> SseRead:
    """GET the events of `rid` until the terminal event, `limit` events, or the stream's end.
    With `into`, events are appended there as they arrive (kept if the connection breaks)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    params = {} if after is None else {"after": str(after)}
    if view is not None:
        params["view"] = view
    async with asyncio.timeout(timeout_s):
        async with client.stream("GET", events_url(rid), headers=headers, params=params) as resp:
            out = into or SseRead(resp.status_code, resp.headers)
            out.status, out.headers = resp.status_code, resp.headers
            if resp.status_code != 200:
                out.body = await resp.aread()
                return out
            out.ended = await _parse(resp, out, limit)
            return out


async def read_through_drops(
    client: httpx.AsyncClient, rid: str, timeout_s: float = READ_TIMEOUT_S
) -> SseRead:
    """Read to the terminal event like a browser's EventSource: whenever the connection fails
    or ends early (edge killed, restarting), reconnect with Last-Event-ID = last seq seen."""
    out = SseRead(0, httpx.Headers())
    async with asyncio.timeout(timeout_s):
        while True:
            cursor = out.events[-1].seq if out.events else None
            try:
                await read_events(client, rid, last_event_id=cursor, into=out, timeout_s=timeout_s)
            except httpx.TransportError:
                out.ended = "broken"
            if out.ended == "terminal":
                return out
            if out.status not in (0, 200):
                if out.status == 503 or out.status == 404 and not out.events:
                    pass  # an edge warming up may not know the response yet
                else:
                    raise AssertionError(f"resume of {rid} at {cursor}: {out.status} {out.body!r}")
            out.reconnects += 1
            await asyncio.sleep(0.1)


async def _parse(resp: httpx.Response, out: SseRead, limit: int | None) -> str:
    if limit is not None and limit <= 0:
        return "limit"
    fields: dict[str, list[str]] = {}
    async for line in resp.aiter_lines():
        if line.startswith(":"):
            if line[1:].strip() == "ping":
                out.pings += 1
            continue
        if line:
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
            continue
        if not fields:
            continue
        event = _event(fields)
        fields = {}
        if event is None:
            continue
        out.events.append(event)
        if event.type in TERMINAL:
            return "terminal"
        if limit is not None and len(out.events) >= limit:
            return "limit"
    return "eof"


def _event(fields: dict[str, list[str]]) -> SseEvent | None:
    if "data" not in fields:
        return None  # e.g. a lone `retry:` field
    unknown = set(fields) - {"id", "event", "data", "retry"}
    assert not unknown, f"unknown SSE fields {unknown} in {fields}"
    assert len(fields["data"]) == 1, f"data must be one line of JSON: {fields['data']}"
    assert len(fields.get("id", [])) == 1, f"every event carries exactly one id: {fields}"
    assert len(fields.get("event", [])) == 1, f"every event carries exactly one type: {fields}"
    data = orjson.loads(fields["data"][0])
    assert isinstance(data, dict), data
    seq, type_ = int(fields["id"][0]), fields["event"][0]
    assert fields["id"][0] == str(seq), f"id is not decimal: {fields['id'][0]!r}"
    assert data.get("seq") == seq, f"data.seq {data.get('seq')} != id {seq}"
    assert data.get("type") == type_, f"data.type {data.get('type')} != event {type_}"
    assert isinstance(data.get("source"), str), f"event without source: {data}"
    if type_ == "delta":
        assert isinstance(data.get("text"), str), f"delta without text: {data}"
    return SseEvent(seq, type_, data)


async def read_all(
    client: httpx.AsyncClient,
    rid: str,
    *,
    after: int | None = None,
    last_event_id: int | None = None,
    wait_known_s: float = 0.0,
    timeout_s: float = READ_TIMEOUT_S,
    max_reconnects: int = 20,
    view: str | None = None,
) -> SseRead:
    """Read to the terminal event as EventSource would: a stream the edge ends early is resumed
    with Last-Event-ID (counted in `reconnects`). Asserts 200s and a terminal ending. Retries
    404 while the response may not have reached Kafka yet (`wait_known_s`)."""
    deadline = time.monotonic() + wait_known_s
    async with asyncio.timeout(timeout_s):
        while True:
            got = await read_events(
                client, rid, after=after, last_event_id=last_event_id, view=view
            )
            if got.status == 404 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            break
        assert got.status == 200, f"GET events of {rid}: {got.status} {got.body[:500]!r}"
        while got.ended == "eof" and got.reconnects < max_reconnects:
            cursor = got.events[-1].seq if got.events else (last_event_id or after or 0)
            more = await read_events(client, rid, last_event_id=cursor, view=view)
            assert more.status == 200, f"resume {rid} at {cursor}: {more.status} {more.body!r}"
            got.events.extend(more.events)
            got.pings += more.pings
            got.ended = more.ended
            got.reconnects += 1
        assert got.ended == "terminal", f"stream of {rid} ended by {got.ended} at {got.seqs[-3:]}"
        return got


async def wait_known(client: httpx.AsyncClient, rid: str, timeout_s: float = 20.0) -> SseEvent:
    """Wait until the edge serves `rid` (its first event has been sequenced); returns it."""
    async with asyncio.timeout(timeout_s):
        while True:
            got = await read_events(client, rid, limit=1)
            if got.status == 200 and got.events:
                return got.events[0]
            assert got.status == 404, f"GET events of {rid}: {got.status} {got.body[:300]!r}"
            await asyncio.sleep(0.2)


def assert_contiguous(events: list[SseEvent], first: int = 1, terminal: str = "done") -> None:
    """seq first..last without gap or duplicate, exactly one terminal event and it is last."""
    seqs = [e.seq for e in events]
    assert seqs, "no events"
    expected = list(range(first, first + len(seqs)))
    if seqs != expected:
        dup = sorted({s for s in seqs if seqs.count(s) > 1})
        missing = sorted(set(range(first, max(seqs) + 1)) - set(seqs))
        raise AssertionError(
            f"seqs not contiguous from {first}: {len(seqs)} events, first {seqs[:5]}, "
            f"last {seqs[-5:]}, duplicates {dup[:20]}, missing {missing[:20]}"
        )
    terminals = [e for e in events if e.type in TERMINAL]
    assert [e.type for e in terminals] == [terminal], f"terminal events: {terminals}"
    assert events[-1].type == terminal


def delta_text(events: list[SseEvent], source: str = "answer") -> str:
    return "".join(e.text for e in events if e.type == "delta" and e.data["source"] == source)


async def create_demo(client: httpx.AsyncClient, tokens: int, rate: float, prompt: str = "") -> str:
    body = {
        "model": "demo",
        "input": prompt or "Explain Kafka consumer groups.",
        "params": {"tokens": tokens, "rate": rate},
    }
    resp = await client.post("/v1/responses", json=body)
    assert resp.status_code == 201, f"POST /v1/responses: {resp.status_code} {resp.text[:500]}"
    obj = resp.json()
    rid = obj["id"]
    assert isinstance(rid, str) and rid, obj
    assert obj["events_url"] == events_url(rid), obj
    assert obj["status"] == "in_progress", obj
    return str(rid)


async def snapshot(client: httpx.AsyncClient, rid: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/responses/{rid}")
    assert resp.status_code == 200, f"snapshot of {rid}: {resp.status_code} {resp.text[:500]}"
    obj: dict[str, Any] = resp.json()
    assert obj["id"] == rid, obj
    return obj


async def final_snapshot(
    client: httpx.AsyncClient, rid: str, last_seq: int, timeout_s: float = 10.0
) -> dict[str, Any]:
    """The snapshot once it has caught up with `last_seq` (it may trail the stream briefly)."""
    deadline = time.monotonic() + timeout_s
    while True:
        snap = await snapshot(client, rid)
        if snap["last_seq"] >= last_seq or time.monotonic() > deadline:
            return snap
        await asyncio.sleep(0.1)


def client_for(url: str, *, connections: int = 100) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """POST a response request; asserts 201 and returns the new id."""
    resp = await client.post("/v1/responses", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])
