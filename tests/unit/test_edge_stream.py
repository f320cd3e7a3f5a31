"""The edge's own SSE response class over a fake ASGI server: every frame ready at a wake-up
goes out in one `http.response.body` send; pings when idle; a disconnect, a shutdown or a
send timeout each end it and release the reader's subscription."""

from __future__ import annotations

import asyncio
from typing import Any

from app import events
from app.edge.resume import wire
from app.edge.sse import PING
from app.edge.stream import EventStream, Streams
from app.edge.tracked import DATA
from app.events import Event
from app.settings import Settings
from tests.unit.test_reader import feed, make

SETTINGS = Settings(topic_prefix="t", edge_subscriber_queue=64)


class FakeServer:
    """Records what the app sends; `disconnect()` makes receive() report the client gone."""

    def __init__(self, send_delay_s: float = 0.0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.send_delay_s = send_delay_s
        self._gone = asyncio.Event()
        self._requested = False

    async def receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self.send_delay_s and message["type"] == "http.response.body":
            await asyncio.sleep(self.send_delay_s)
        self.sent.append(message)

    def disconnect(self) -> None:
        self._gone.set()

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def wait_until(check: Any, timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 (polls what a fake server recorded)
            await asyncio.sleep(0.005)


async def open_stream(
    heartbeat_s: float = 5.0, send_timeout_s: float = 5.0, after: int = 0
) -> tuple[Any, EventStream, Streams]:
    fanout, reader = make(SETTINGS, heartbeat_s=heartbeat_s)
    feed(fanout, 1)
    body = await reader.open(fanout.responses["r"], after=after)
    assert body is not None
    streams = Streams()
    return fanout, EventStream(wire(body), streams, send_timeout_s), streams


async def test_frames_ready_at_one_wake_up_go_out_in_one_send() -> None:
    fanout, app, _ = await open_stream()
    server = FakeServer()
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    await wait_until(lambda: len(server.bodies) == 1)  # seq 1 from the ring
    start = server.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache" and headers[b"x-accel-buffering"] == b"no"
    for seq in range(2, 5):  # three frames in one loop tick: one wake-up of the reader
        feed(fanout, seq)
    await wait_until(lambda: len(server.bodies) == 2)
    batch = server.bodies[1]
    assert [line for line in batch.split(b"\n") if line.startswith(b"id: ")] == [
        b"id: 2",
        b"id: 3",
        b"id: 4",
    ]
    feed(fanout, 5, events.DONE)
    await asyncio.wait_for(task, 2)
    assert server.bodies[2].startswith(b"id: 5\nevent: done\n")
    assert server.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert not fanout.responses["r"].subscribers


async def test_a_slow_socket_gets_everything_that_piled_up_in_one_send() -> None:
    fanout, app, _ = await open_stream()
    server = FakeServer(send_delay_s=0.1)
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    await asyncio.sleep(0.02)  # the send of seq 1 is under way
    for seq in range(2, 12):
        feed(fanout, seq)
        await asyncio.sleep(0)  # one wake-up per frame: the reader is busy sending
    feed(fanout, 12, events.DONE)
    await asyncio.wait_for(task, 3)
    assert len(server.bodies) <= 4, [b.count(b"id: ") for b in server.bodies]
    assert sum(b.count(b"\nevent: ") for b in server.bodies) == 12


async def test_idle_stream_sends_pings() -> None:
    fanout, app, _ = await open_stream(heartbeat_s=0.05)
    server = FakeServer()
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    await wait_until(lambda: server.bodies.count(PING) >= 2)
    server.disconnect()
    await asyncio.wait_for(task, 2)


async def test_disconnect_ends_it_and_releases_the_subscription() -> None:
    fanout, app, _ = await open_stream()
    server = FakeServer()
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    await wait_until(lambda: len(server.bodies) == 1)
    server.disconnect()
    await asyncio.wait_for(task, 2)
    assert not fanout.responses["r"].subscribers
    assert server.sent[-1].get("more_body") is True  # nothing more is sent to a gone client


async def test_shutdown_closes_open_streams_cleanly() -> None:
    fanout, app, streams = await open_stream()
    server = FakeServer()
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    await wait_until(lambda: len(server.bodies) == 1)
    streams.close()
    await asyncio.wait_for(task, 2)
    assert server.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert not fanout.responses["r"].subscribers


async def test_shutdown_before_the_first_byte_still_answers_200_and_ends() -> None:
    fanout, app, streams = await open_stream()
    streams.close()
    server = FakeServer()
    await asyncio.wait_for(app({"type": "http"}, server.receive, server.send), 2)
    assert server.sent[0]["type"] == "http.response.start"
    assert server.sent[-1]["more_body"] is False
    assert not fanout.responses["r"].subscribers


async def test_a_socket_that_accepts_nothing_is_given_up() -> None:
    fanout, app, _ = await open_stream(send_timeout_s=0.1)
    server = FakeServer(send_delay_s=60)
    await asyncio.wait_for(app({"type": "http"}, server.receive, server.send), 2)
    assert not fanout.responses["r"].subscribers


async def test_slow_sends_that_each_finish_in_time_keep_the_stream() -> None:
    # Margins wide enough for a loaded machine: each send 0.4 s inside the timeout.
    fanout, app, _ = await open_stream(send_timeout_s=0.5)
    server = FakeServer(send_delay_s=0.1)  # every send slow, none past the timeout
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    for seq in range(2, 10):
        await wait_until(lambda n=seq - 1: len(server.bodies) == n)
        feed(fanout, seq)
    await wait_until(lambda: len(server.bodies) == 9)  # 0.9 s of sends in all
    assert not task.done() and fanout.responses["r"].subscribers
    server.disconnect()
    await asyncio.wait_for(task, 2)


async def test_an_event_without_newlines_is_framed_from_its_stored_bytes() -> None:
    fanout, reader = make()
    event = Event(rid="r", type=events.DELTA, seq=1, ts=1.0, text="a\nb")
    stored = events.encode(event)
    fanout.on_event(0, 0, b"r", stored, 0.0)
    frame = fanout.responses["r"].recent[0]
    assert frame[DATA] == b"id: 1\nevent: delta\ndata: " + stored + b"\n\n"


async def test_a_server_cancelling_the_request_still_releases_everything() -> None:
    fanout, app, _ = await open_stream()
    server = FakeServer()
    task = asyncio.create_task(app({"type": "http"}, server.receive, server.send))
    await wait_until(lambda: len(server.bodies) == 1)
    task.cancel()  # uvicorn past its graceful-shutdown timeout
    await asyncio.gather(task, return_exceptions=True)
    assert not fanout.responses["r"].subscribers
