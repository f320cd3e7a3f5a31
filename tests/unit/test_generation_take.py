"""The worker side of requests and cancels (Generation), with a publisher that records writes:
a cancel that overtakes its request, one that comes while the request waits for a slot, and a
cancel repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from agents.generation import Generation
from agents.models.registry import Registry
from agents.sideread import Folded
from app import events
from app.errors import DecodeError
from app.ordering import Order
from app.producer import Publisher
from app.settings import Settings


class Recorder(Publisher):
    """A writer whose producer records each event and has Kafka acknowledge it at once."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.writes: list[tuple[str, str]] = []  # (rid, type)
        self.index: list[tuple[str, str, int]] = []  # (rid, state, events written before it)
        self._loop = asyncio.get_running_loop()

    def _produce(
        self, topic: str, key: str, value: bytes, part: int, report: Any, batch: bool = False,
        headers: Any = None,
    ) -> None:  # fmt: skip
        if topic == self.settings.events_topic:
            self.writes.append((key, orjson.loads(value)["type"]))
        elif topic == self.settings.responses_topic:
            self.index.append((key, orjson.loads(value)["state"], len(self.of(key))))
        target, seq = report.args
        offset = len(self.writes)
        asyncio.get_running_loop().call_soon(self._delivered, [(target, seq, None, offset)])

    def of(self, rid: str) -> list[str]:
        return [t for r, t in self.writes if r == rid]


def request(rid: str, tokens: int = 10_000) -> bytes:
    body = {"model": "demo", "input": "x", "params": {"tokens": tokens, "rate": 200}}
    return orjson.dumps({"rid": rid, "calls": [{"source": "answer", **body}]})


async def generation(concurrency: int = 4) -> AsyncIterator[tuple[Generation, Recorder]]:
    settings = Settings(generation_concurrency=concurrency)
    recorder = Recorder(settings)
    registry = Registry(settings)
    try:
        yield Generation(settings, recorder, registry), recorder
    finally:
        await registry.aclose()


async def test_a_cancel_that_overtakes_its_request_wins() -> None:
    async for gen, rec in generation():
        gen.cancel("a")
        await gen.take(request("a"))
        assert rec.of("a") == ["cancelled"] and not gen.running


async def test_a_cancel_while_waiting_for_a_slot_wins() -> None:
    async for gen, rec in generation(concurrency=1):
        await gen.take(request("busy"))
        waiting = asyncio.create_task(gen.take(request("queued")))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # no free slot
        gen.cancel("queued")
        gen.cancel("busy")
        await asyncio.wait_for(waiting, 2)
        await asyncio.sleep(0.05)
        assert rec.of("queued") == ["cancelled"]
        assert rec.of("busy")[-1] == "cancelled" and "delta" in rec.of("busy")
        assert not gen.running and gen.slots._value == 1


async def test_cancel_is_idempotent() -> None:
    async for gen, rec in generation():
        await gen.take(request("a"))
        await asyncio.sleep(0.05)
        gen.cancel("a")
        gen.cancel("a")
        await asyncio.sleep(0.05)
        gen.cancel("a")
        assert rec.of("a").count("cancelled") == 1 and rec.of("a")[-1] == "cancelled"
        await gen.take(request("a"))  # delivered again later: still cancelled, no new call
        assert rec.of("a").count("cancelled") == 2 and rec.of("a")[-2:] == ["cancelled"] * 2


async def test_a_null_request_record_is_a_decode_error_not_a_crash() -> None:
    # `log.warning(..., value[:200])` on a null value raised TypeError inside the agent: the
    # generation agent crashed and every running response ended `worker_stopped`. Undecodable
    # requests now raise DecodeError, which the agent dead-letters.
    async for gen, recorder in generation():
        for bad in (None, b"", b"\xff", b"[]", b'{"rid": 5}', b'{"rid": ""}', b'{"calls": []}'):
            with pytest.raises(DecodeError):
                await gen.take(bad)
        assert recorder.writes == []


class Seen:
    """The side read of an earlier attempt's events: up to seq 11, the last written `ago_s`."""

    def __init__(self, ago_s: float) -> None:
        self.folded = Folded(order=Order(last=11), last_ts=events.now_ms() - ago_s * 1000)

    async def fold(self, rid: str, partition: int, **kwargs: Any) -> Folded:
        return self.folded


@pytest.mark.parametrize(("ago_s", "ended"), [(1.0, False), (60.0, True)])
async def test_a_request_delivered_again_leaves_a_live_writer_alone(
    ago_s: float, ended: bool
) -> None:
    # A worker joining or dying makes Faust deliver again a request taken in the last commit
    # interval; the takeover check ended it while its writer on another worker was still
    # writing, and both wrote seq 12 and 13 (tests/integration/test_chaos.py found it). Only
    # an earlier attempt silent for the idle timeout is ended here; a live one is left alone.
    async for gen, rec in generation():
        rec.partitions = 4
        gen.sidereads = Seen(ago_s)  # type: ignore[assignment]
        writer = rec.response("r", announced=True)
        assert await gen._started_elsewhere(writer, 0.0)
        assert rec.of("r") == (["error"] if ended else [])


async def test_a_young_request_written_before_the_last_assignment_is_checked_first() -> None:
    # A worker joining takes partitions whose previous owner had taken a request in its last
    # commit interval: Faust delivers it again here, seconds old, younger than the takeover
    # age. Run again, it wrote every seq twice into the log (tests/integration/test_chaos.py).
    # Written before this worker's assignment, it is checked against the log: its earlier
    # attempt is live elsewhere, so it is not run here.
    async for gen, rec in generation():
        rec.partitions = 4
        gen.sidereads = Seen(1.0)  # type: ignore[assignment]
        gen.assigned_ms = events.now_ms()
        await gen.take(request("r"), written_ms=gen.assigned_ms - 500)
        await asyncio.wait_for(asyncio.gather(*gen.running.values()), 5)
        assert rec.of("r") == []
        # Control: written after the assignment, the same young request is simply run.
        await gen.take(request("s", tokens=3), written_ms=events.now_ms())
        await asyncio.wait_for(asyncio.gather(*gen.running.values()), 5)
        assert rec.of("s")[-1] == "done"


class Taken:
    """The side reads of an earlier attempt that took the request (its `beat` in the index,
    `ago_s` ago, or none) but wrote no event."""

    def __init__(self, ago_s: float | None) -> None:
        self.ts = None if ago_s is None else events.now_ms() - ago_s * 1000

    async def fold(self, rid: str, partition: int, **kwargs: Any) -> Folded:
        return Folded()

    async def taken(self, rid: str, partition: int, **kwargs: Any) -> float | None:
        return self.ts


@pytest.mark.parametrize(
    ("ago_s", "elsewhere", "written"), [(1.0, True, []), (60.0, True, ["error"]), (None, False, [])]
)
async def test_a_request_taken_elsewhere_before_its_first_event_is_not_run_twice(
    ago_s: float | None, elsewhere: bool, written: list[str]
) -> None:
    # The window the check above left open: the earlier attempt took the request but its
    # model had not sent a first token yet, so the log held nothing and the request ran a
    # second time here: two model calls, two answers spliced by seq. Its `beat` says it was
    # taken: a live one is left alone, a silent one ended at seq 1; no beat (control), run it.
    async for gen, rec in generation():
        rec.partitions = 4
        gen.sidereads = Taken(ago_s)  # type: ignore[assignment]
        writer = rec.response("r", announced=True)
        assert await gen._started_elsewhere(writer, 0.0) is elsewhere
        assert rec.of("r") == written


async def test_a_worker_says_it_took_a_request_before_its_first_event() -> None:
    async for gen, rec in generation():
        await gen.take(request("r", tokens=3))
        await asyncio.wait_for(asyncio.gather(*gen.running.values()), 5)
        assert rec.of("r")[-1] == "done"
        assert rec.index[0] == ("r", "beat", 0), rec.index
