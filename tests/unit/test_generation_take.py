"""The worker side of requests and cancels (Generation), with a publisher that records writes:
a cancel that overtakes its request, one that comes while the request waits for a slot, and a
cancel repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from agents.generation import Generation
from app.models.registry import Registry
from app.settings import Settings


class Recorder:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.writes: list[tuple[str, str]] = []  # (rid, type)

    async def send(self, topic: str, key: str, value: bytes) -> asyncio.Future[object]:
        self.writes.append((key, orjson.loads(value)["type"]))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def of(self, rid: str) -> list[str]:
        return [t for r, t in self.writes if r == rid]


def request(rid: str, tokens: int = 10_000) -> bytes:
    body = {"model": "demo", "input": "x", "params": {"tokens": tokens, "rate": 200}}
    return orjson.dumps({"rid": rid, **body})


async def generation(concurrency: int = 4) -> AsyncIterator[tuple[Generation, Recorder]]:
    settings = Settings(generation_concurrency=concurrency)
    recorder = Recorder(settings)
    registry = Registry(settings)
    try:
        yield Generation(settings, recorder, registry), recorder  # type: ignore[arg-type]
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
