"""The page heals its own stream: an edge killed and restarted mid-stream, and an edge that
stops answering without closing the socket (half-open, SIGSTOP) until the watchdog fires.
Either way the final text has no repeated and no missing part.
"""

from __future__ import annotations

import os
import signal

import pytest
from integration.procs import Edge, Stack, up

from .browser import Browser
from .pagekit import assert_matches_snapshot, open_demo, send, snapshot, state, wait_length

pytestmark = pytest.mark.integration


async def test_edge_restart_mid_stream_resumes_by_itself(stack: Stack, page: Browser) -> None:
    edge = await up(stack)
    # heartbeat_ms matches the stack's TOKENRELAY_HEARTBEAT_S=2 (the half-open watchdog is 3x).
    open_demo(page, edge.url, tokens=1500, rate=100, heartbeat_ms=2000)
    rid = send(page)
    wait_length(page, 600)
    edge.kill()  # SIGKILL: the socket dies with the process, mid-stream
    seen_down = state(page)["lastSeq"]
    await stack.edge(port=edge.port)  # same address, so the page's reconnects find it
    status = page.wait(
        "['done','cancelled','error'].includes(tokenrelay.state().status)"
        " && tokenrelay.state().status",
        timeout_s=90,
    )
    assert status == "done", state(page)
    st = state(page)
    assert st["stats"]["reconnects"] >= 1 and st["stats"]["connects"] >= 2, st["stats"]
    assert st["lastSeq"] > seen_down
    assert_matches_snapshot(page, snapshot(edge.url, rid))


def test_half_open_connection_is_detected_and_resumed(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=1500, rate=100, heartbeat_ms=2000)
    rid = send(page)
    wait_length(page, 300)
    os.kill(edge.pid, signal.SIGSTOP)  # the socket stays open; no byte, not even a ping
    try:
        page.wait("tokenrelay.stream.stats.halfOpen >= 1", timeout_s=20, poll_ms=200)
        assert state(page)["status"] in ("reconnecting", "streaming")
    finally:
        os.kill(edge.pid, signal.SIGCONT)
    status = page.wait(
        "['done','cancelled','error'].includes(tokenrelay.state().status)"
        " && tokenrelay.state().status",
        timeout_s=90,
    )
    assert status == "done", state(page)
    assert_matches_snapshot(page, snapshot(edge.url, rid))
