"""The baseline: the same token schedule from a plain Starlette SSE endpoint, no Kafka, no
resume: what tokenrelay adds over the simplest server. `python -m bench.baseline --port P`."""

# GET /streams/{id} joins a stream, creating it (`?autostart=1&tokens=&rate=&first_token_ms=`
# starts it at once, for TTFT); POST /start {ids, tokens, rate, start_at} starts streams at an
# epoch-ms instant. One generator per stream broadcasts to all its readers, so fan-out is
# measured on the same terms as tokenrelay's.

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Stream:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.queues: set[asyncio.Queue[bytes]] = set()
        self.task: asyncio.Task[None] | None = None

    def start(self, tokens: int, rate: float, start_at: float, text: str) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(tokens, rate, start_at, text))

    async def _run(self, tokens: int, rate: float, start_at: float, text: str) -> None:
        # Scheduled from the start, as the demo model is, so slow iterations do not drift.
        start = time.monotonic() + (start_at / 1000 - time.time())
        for i in range(tokens):
            delay = start + (i / rate if rate > 0 else 0) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._send(i + 1, "delta", text)
        self._send(tokens + 1, "done", None)

    def _send(self, seq: int, kind: str, text: str | None) -> None:
        data = {
            "rid": self.sid,
            "source": "answer",
            "seq": seq,
            "type": kind,
            "ts": time.time() * 1000,
        }
        if text is not None:
            data["text"] = text
        frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), orjson.dumps(data))
        for q in self.queues:
            q.put_nowait(frame)


class Streams:
    def __init__(self) -> None:
        self.by_id: dict[str, Stream] = {}

    def get(self, sid: str) -> Stream:
        found = self.by_id.get(sid)
        if found is None:
            found = self.by_id[sid] = Stream(sid)
        return found


async def stream(request: Request) -> Response:
    streams: Streams = request.app.state.streams
    s = streams.get(request.path_params["sid"])
    q: asyncio.Queue[bytes] = asyncio.Queue()
    s.queues.add(q)
    p = request.query_params
    if p.get("autostart"):
        first = float(p.get("first_token_ms", 0))
        s.start(
            int(p.get("tokens", 10)), float(p.get("rate", 30)), time.time() * 1000 + first, " tok"
        )

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                frame = await q.get()
                yield frame
                if b"\nevent: done\n" in frame:
                    return
        finally:
            s.queues.discard(q)
            if not s.queues and s.task is not None and s.task.done():
                streams.by_id.pop(s.sid, None)

    return StreamingResponse(body(), media_type="text/event-stream", headers=HEADERS)


async def start(request: Request) -> Response:
    streams: Streams = request.app.state.streams
    spec = orjson.loads(await request.body())
    n, rate = len(spec["ids"]), float(spec["rate"])
    for j, sid in enumerate(spec["ids"]):
        # Spread n streams' tokens evenly, as the other systems' producers do.
        offset = j / (rate * n) * 1000 if rate > 0 else 0.0
        streams.get(sid).start(
            int(spec["tokens"]), rate, float(spec["start_at"]) + offset, spec.get("text", " tok")
        )
    return JSONResponse({"started": n})


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/streams/{sid}", stream),
            Route("/start", start, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
    app.state.streams = Streams()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
