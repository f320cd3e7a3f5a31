"""A writer that goes silent mid-response: the watchdog ends the response with a retriable error
after the idle timeout, so no reader waits forever; later writes of that writer lose by the
readers' rule (first seq wins, nothing after the terminal)."""

from __future__ import annotations

import dataclasses

import pytest

from app.producer import Publisher

from .procs import Stack, up
from .sse import assert_contiguous, client_for, delta_text, read_all

pytestmark = pytest.mark.integration


async def test_idle_response_ends_with_retriable_error(stack: Stack) -> None:
    stack.settings = dataclasses.replace(
        stack.settings, response_idle_timeout_s=2.0, writer_beat_s=0.5
    )
    edge = await up(stack)
    async with Publisher(stack.settings) as publisher, client_for(edge.url) as client:
        writer = publisher.response("lost-1")
        await writer.open()
        for i in range(5):
            await writer.delta(f"w{i} ")
        await writer.flush()
        # The producer now goes silent, as a killed model call would.
        got = await read_all(client, "lost-1", wait_known_s=10, timeout_s=30)
        assert_contiguous(got.events, terminal="error")
        assert delta_text(got.events) == "w0 w1 w2 w3 w4 "
        last = got.events[-1].data
        assert (last["retriable"], last["code"]) == (True, "producer_lost")
        # A zombie producer waking up cannot reopen or extend the response.
        await writer.delta("late ")
        await writer.done()
        again = await read_all(client, "lost-1", timeout_s=10)
        assert again.events == got.events
