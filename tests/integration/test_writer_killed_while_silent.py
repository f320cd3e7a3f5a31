"""A writer killed while silent, and the worker watching its response killed with it: nothing
more is written to that partition, yet the replacement worker recovers the watchdog's table as
soon as it is assigned the partition (not when the next record arrives), so every reader gets
the terminal event within the idle timeout plus the session timeout.

The writer is `tokenrelay publish` (the producer SDK) in a process of its own, fed lines on
standard input and then nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time

import pytest

from app.producer import new_response_id

from .procs import REPO, Stack, settings_env
from .sse import assert_contiguous, client_for, delta_text, read_all, wait_known

pytestmark = pytest.mark.integration

IDLE_TIMEOUT_S = 3.0
LINES = [f"line {i}\n" for i in range(5)]
# Starting the replacement worker and its first reaper pass, beyond idle + session timeout.
SLACK_S = 20.0


async def test_writer_and_watchdog_killed_while_silent(stack: Stack) -> None:
    stack.settings = dataclasses.replace(
        stack.settings, response_idle_timeout_s=IDLE_TIMEOUT_S, writer_beat_s=IDLE_TIMEOUT_S / 4
    )
    settings = stack.settings
    worker = await stack.worker()
    edge = await stack.edge()
    rid = new_response_id()
    writer = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "app.cli", "publish", "--id", rid],
        cwd=REPO,
        env=settings_env(settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        assert writer.stdin is not None
        text = "".join(LINES)
        writer.stdin.write(text.encode())
        await writer.stdin.drain()  # and then nothing: the writer is alive and silent
        async with client_for(edge.url) as client:
            await wait_known(client, rid)
            # Every line is stored and the watchdog has seen the response open.
            deadline = time.monotonic() + 20
            while (await client.get(f"/v1/responses/{rid}")).json()["sources"] != {"answer": text}:
                assert time.monotonic() < deadline, "the writer's lines never arrived"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            writer.kill()
            worker.kill()
            killed = time.monotonic()
            bound = IDLE_TIMEOUT_S + settings.worker_session_timeout_s + SLACK_S
            reader = asyncio.create_task(read_all(client, rid, timeout_s=bound))
            replacement = await stack.worker()
            got = await reader
            took = time.monotonic() - killed
    finally:
        if writer.returncode is None:
            writer.kill()
        await writer.wait()

    assert replacement.alive
    assert_contiguous(got.events, terminal="error")
    assert delta_text(got.events) == text
    end = got.events[-1].data
    assert (end["code"], end["retriable"]) == ("producer_lost", True)
    print(f"\nwriter and watchdog killed while silent: terminal event {took:.1f} s later")
