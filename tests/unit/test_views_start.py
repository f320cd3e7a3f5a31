"""The views agent starts its publisher and follower once, and a second caller waits for that
start: test_citations_view found the sync timer looking offsets up on a consumer the agent had
not finished starting, which crashed the worker."""

from __future__ import annotations

import asyncio

from agents.views import Views
from app.settings import Settings


async def test_concurrent_starts_start_once_and_both_wait_for_it() -> None:
    views = Views(Settings(), table={}, recovered=lambda: True)
    gate = asyncio.Event()
    started: list[str] = []

    async def publisher() -> None:
        await gate.wait()
        started.append("publisher")

    async def follower() -> None:
        started.append("follower")

    views.publisher.start = publisher  # type: ignore[method-assign]
    views.follower.start = follower  # type: ignore[method-assign]
    first = asyncio.create_task(views.start())
    second = asyncio.create_task(views.start())
    await asyncio.sleep(0.05)
    assert not first.done() and not second.done()  # the second waits for the same start
    gate.set()
    await asyncio.gather(first, second)
    assert started == ["publisher", "follower"]
