"""A model call's timers: first token, gap between tokens, whole deadline; and that a timer
firing closes the upstream iterator (its `finally` runs: the HTTP request is closed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agents.models.base import Limits, limited
from app.errors import UpstreamError


class Upstream:
    def __init__(self, delays: list[float]) -> None:
        self.delays = delays
        self.closed = False

    async def stream(self) -> AsyncIterator[str]:
        try:
            for i, delay in enumerate(self.delays):
                await asyncio.sleep(delay)
                yield f"t{i}"
        finally:
            self.closed = True


async def drain(up: Upstream, limits: Limits) -> list[str]:
    return [t async for t in limited(up.stream(), limits)]


async def test_in_time_passes_through() -> None:
    up = Upstream([0.01, 0.01, 0.01])
    assert await drain(up, Limits(1, 1, 5)) == ["t0", "t1", "t2"]
    assert up.closed


@pytest.mark.parametrize(
    ("delays", "limits", "code", "retriable"),
    [
        ([0.5], Limits(0.05, 1, 5), "first_token_timeout", True),
        ([0.0, 0.5], Limits(1, 0.05, 5), "upstream_stalled", True),
        ([0.03] * 20, Limits(1, 1, 0.2), "deadline_exceeded", False),
    ],
)
async def test_timers(delays: list[float], limits: Limits, code: str, retriable: bool) -> None:
    up = Upstream(delays)
    got: list[str] = []
    with pytest.raises(UpstreamError) as caught:
        async for text in limited(up.stream(), limits):
            got.append(text)
    assert (caught.value.code, caught.value.retriable) == (code, retriable)
    assert up.closed, "the upstream iterator was not closed when its timer fired"


async def test_a_slow_consumer_does_not_count_against_the_upstream() -> None:
    up = Upstream([0.0, 0.0])
    got = []
    async for text in limited(up.stream(), Limits(0.05, 0.05, 5)):
        got.append(text)
        await asyncio.sleep(0.1)  # e.g. a slow Kafka send: not the model's silence
    assert got == ["t0", "t1"]


async def test_consumer_leaving_early_closes_the_upstream() -> None:
    up = Upstream([0.0] * 5)
    stream = limited(up.stream(), Limits(1, 1, 5))
    assert await anext(stream) == "t0"
    await stream.aclose()  # type: ignore[attr-defined]
    assert up.closed


async def test_a_cancel_from_outside_stays_a_cancel() -> None:
    up = Upstream([0.0, 5.0])
    got: list[str] = []

    async def run() -> None:
        async for text in limited(up.stream(), Limits(1, 1, 5)):
            got.append(text)

    task = asyncio.create_task(run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == ["t0"] and up.closed


async def test_the_gap_timer_rearms_across_many_quick_tokens() -> None:
    # 100 tokens 10 ms apart: longer in all than the 0.5 s gap allowed between two of them (the
    # margin per gap is wide: a loaded machine delays a timer by tens of ms).
    up = Upstream([0.01] * 100)
    assert len(await drain(up, Limits(0.5, 0.5, 10))) == 100
