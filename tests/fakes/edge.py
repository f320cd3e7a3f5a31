"""An in-process fake of the edge's HTTP API for the client's unit tests (httpx.MockTransport):
finite streams served from a list of events, each connection shaped by a plan (cut after N
frames, fail mid-body, answer a status, replay copies, skip a seq), every request recorded.

Real SSE framing (`id:` / `event:` / `data:`), real cursor rules (Last-Event-ID wins over
?after=, 204 at the terminal event, multiplex's `RID:N,...` vector), no Kafka and no server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson


@dataclass
class Connection:
    """How one GET of a stream goes; connections beyond the plan are served whole."""

    cut_after: int | None = None  # end the body cleanly after this many frames
    fail_after: int | None = None  # raise httpx.ReadError after this many frames
    status: int = 200  # answer this instead of a stream
    headers: dict[str, str] = field(default_factory=dict)
    code: str = "unavailable"
    replay: int = 0  # start this many seqs before the cursor: copies the client must drop
    skip: int | None = None  # leave this seq out: a gap
    retry_ms: int | None = None  # a `retry:` field first
    chunk: int | None = None  # send the body in pieces of this many bytes


def script(rid: str, texts: list[str], terminal: str = "done") -> list[dict[str, Any]]:
    """A response's events: one delta per text, then its terminal event."""
    out = [
        {"rid": rid, "source": "answer", "seq": i, "type": "delta", "ts": 1.0 * i, "text": t}
        for i, t in enumerate(texts, 1)
    ]
    out.append({"rid": rid, "source": "answer", "seq": len(texts) + 1, "type": terminal, "ts": 0.0})
    return out


class FakeEdge:
    def __init__(
        self, streams: dict[str, list[dict[str, Any]]], plan: list[Connection] | None = None
    ) -> None:
        self.streams = streams
        self.plan = list(plan or [])
        self.requests: list[httpx.Request] = []
        self.read_token: str | None = None  # put in create answers when set
        self.next_id = "resp_fake"

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: self._answer(request, sync=True))

    def async_transport(self) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            return self._answer(request, sync=False)

        return httpx.MockTransport(handle)

    @property
    def cursors(self) -> list[str | None]:
        """The Last-Event-ID of every stream request, in order."""
        return [r.headers.get("last-event-id") for r in self.requests if _streaming(r)]

    def _answer(self, request: httpx.Request, sync: bool) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/v1/responses":
            body = orjson.loads(request.content)
            rid = self.next_id
            self.streams.setdefault(rid, script(rid, [str(body.get("input", ""))]))
            answer = {
                "id": rid,
                "events_url": f"/v1/responses/{rid}/events",
                "status": "in_progress",
            }
            if self.read_token:
                answer["read_token"] = self.read_token
            return httpx.Response(201, json=answer)
        if path == "/v1/models":
            return httpx.Response(200, json={"models": ["demo"]})
        if path == "/v1/events":
            return self._many(request, sync)
        parts = path.split("/")  # ["", "v1", "responses", rid, ...]
        rid = parts[3]
        if rid not in self.streams:
            return _error(404, "unknown_response", f"no response with id {rid!r}")
        if path.endswith("/events"):
            return self._single(request, rid, sync)
        if path.endswith("/cancel"):
            return httpx.Response(202, json={"id": rid, "status": "cancelling", "cancelled": True})
        events = self.streams[rid]
        text = "".join(e.get("text", "") for e in events)
        return httpx.Response(
            200, json={"id": rid, "status": events[-1]["type"], "last_seq": len(events),
                       "sources": {"answer": text}},
        )  # fmt: skip

    def _single(self, request: httpx.Request, rid: str, sync: bool) -> httpx.Response:
        shape = self.plan.pop(0) if self.plan else Connection()
        if shape.status != 200:
            return _error(shape.status, shape.code, "planned", shape.headers)
        raw = request.headers.get("last-event-id") or request.url.params.get("after") or "0"
        after, events = int(raw), self.streams[rid]
        if after >= len(events):
            return httpx.Response(204)
        frames = [
            _frame(str(e["seq"]), e) for e in events[max(0, after - shape.replay) :]
            if e["seq"] != shape.skip
        ]  # fmt: skip
        return _stream(frames, shape, sync)

    def _many(self, request: httpx.Request, sync: bool) -> httpx.Response:
        shape = self.plan.pop(0) if self.plan else Connection()
        if shape.status != 200:
            return _error(shape.status, shape.code, "planned", shape.headers)
        raw = request.headers.get("last-event-id") or request.url.params["streams"]
        at = {rid: int(pos) for rid, _, pos in (i.rpartition(":") for i in raw.split(","))}
        queues = {rid: self.streams[rid][pos:] for rid, pos in at.items()}
        if not any(queues.values()):
            return httpx.Response(204)
        frames = []
        while any(queues.values()):  # round robin: the responses interleave
            for rid, queue in queues.items():
                if queue:
                    event = queue.pop(0)
                    at[rid] = event["seq"]
                    frames.append(_frame(",".join(f"{r}:{p}" for r, p in at.items()), event))
        return _stream(frames, shape, sync)


def _streaming(request: httpx.Request) -> bool:
    return request.url.path.endswith("/events") or request.url.path == "/v1/events"


def _frame(ids: str, event: dict[str, Any]) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        ids.encode(),
        event["type"].encode(),
        orjson.dumps(event),
    )


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"error": {"code": code, "message": message}}
    return httpx.Response(status, json=body, headers=headers)


def _stream(frames: list[bytes], shape: Connection, sync: bool) -> httpx.Response:
    head = [b"retry: %d\n\n" % shape.retry_ms] if shape.retry_ms is not None else []
    limit = shape.cut_after if shape.cut_after is not None else shape.fail_after
    body = b"".join(head + (frames if limit is None else frames[:limit]))
    size = shape.chunk or max(1, len(body))
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    fail = shape.fail_after is not None

    def chunks() -> Iterator[bytes]:
        yield from pieces
        if fail:
            raise httpx.ReadError("connection reset by the fake edge")

    async def achunks() -> AsyncIterator[bytes]:
        for piece in chunks():
            yield piece

    headers = {"content-type": "text/event-stream; charset=utf-8"}
    return httpx.Response(200, headers=headers, content=chunks() if sync else achunks())
