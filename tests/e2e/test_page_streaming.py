"""The demo page in real Chromium against a real worker and edge: the answer grows with a
typing cursor and ends equal to the snapshot; drop-connection resumes; Stop shows cancelled.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from integration.procs import Edge, Stack

from .browser import Browser
from .conftest import ARTIFACTS
from .pagekit import (
    answer_length,
    assert_matches_snapshot,
    open_demo,
    send,
    snapshot,
    state,
    wait_length,
    wait_status,
)

pytestmark = pytest.mark.integration


def test_answer_grows_with_cursor_and_ends_as_the_snapshot(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=400, rate=80)  # about 5 s of streaming
    models = page.eval("[...document.querySelectorAll('#model option')].map(o => o.value)")
    assert "demo" in models, models  # from GET /v1/models, or the fallback when it is absent
    rid = send(page)
    wait_length(page, 1)
    samples: list[tuple[int, bool, str]] = []
    shot: Path | None = None
    sample = """[document.querySelector('#answer').textContent.length,
        !!document.querySelector('#answer .tr-cursor'), tokenrelay.state().status]"""
    while (st := state(page)["status"]) not in ("done", "cancelled", "error"):
        length, cursor, st = page.eval(sample)  # one read: length, cursor and status agree
        samples.append((length, cursor, st))
        if shot is None and samples[-1][0] > 800:
            shot = ARTIFACTS / "midstream.png"
            page.screenshot(shot)
        assert len(samples) < 400, "the response did not finish in 80 s"
        time.sleep(0.2)
    assert st == "done", state(page)
    streaming = [(n, cursor) for n, cursor, s in samples if s == "streaming"]
    increases = sum(1 for a, b in zip(streaming, streaming[1:], strict=False) if b[0] > a[0])
    assert increases >= 5, f"the answer grew only {increases} times: {streaming}"
    assert all(n >= prev for (prev, _), (n, _) in zip(streaming, streaming[1:], strict=False))
    assert all(cursor for _, cursor in streaming), "the cursor was missing while streaming"
    assert shot is not None and shot.stat().st_size > 10_000
    assert_matches_snapshot(page, snapshot(edge.url, rid))
    assert page.eval("document.querySelector('#ttft').textContent").endswith(" ms")
    assert float(page.eval("document.querySelector('#rate').textContent")) > 0
    assert page.eval("document.querySelectorAll('#answer pre code .hljs-keyword').length") > 0


def test_drop_connection_button_resumes_without_repeat_or_loss(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=700, rate=100)
    rid = send(page)
    wait_length(page, 400)
    page.click("#drop")
    page.wait("tokenrelay.stream.stats.drops === 1 && tokenrelay.stream.stats.connects >= 2", 20)
    assert wait_status(page, "done", "cancelled", "error", timeout_s=60) == "done"
    stats = state(page)["stats"]
    assert stats["reconnects"] >= 1 and stats["gaps"] == 0, stats
    assert int(page.eval("document.querySelector('#reconnects').textContent")) >= 1
    assert_matches_snapshot(page, snapshot(edge.url, rid))


def test_stop_shows_cancelled_and_no_more_text_arrives(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=10_000, rate=100)  # 100 s if left alone
    rid = send(page)
    wait_length(page, 200)
    page.click("#stop")
    assert wait_status(page, "cancelled", "done", "error", timeout_s=60) == "cancelled"
    assert page.eval("document.querySelector('#status').textContent") == "cancelled"
    length = answer_length(page)
    time.sleep(2.0)
    assert answer_length(page) == length, "text kept arriving after cancelled"
    assert page.eval("document.querySelector('#stop').disabled")
    snap = snapshot(edge.url, rid)
    assert snap["status"] == "cancelled"
    assert_matches_snapshot(page, snap)
    assert snap["last_seq"] < 5000  # far fewer events than the 10,000 tokens asked for


def test_auto_scroll_follows_the_text_until_the_reader_scrolls_up(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=1200, rate=150)
    send(page)
    answer = "document.querySelector('#answer')"
    page.wait(f"{answer}.scrollHeight > {answer}.clientHeight * 1.5", 30)
    gap = f"{answer}.scrollHeight - {answer}.scrollTop - {answer}.clientHeight"
    assert page.eval(gap) < 60, "not following the text while at the bottom"
    page.eval(f"{answer}.scrollTop = 0")  # the reader scrolls up to read
    grown = page.eval(f"{answer}.scrollHeight")
    page.wait(f"{answer}.scrollHeight > {grown} + 200", 30)
    assert page.eval(f"{answer}.scrollTop") == 0, "auto-scroll pulled the reader back down"
    page.eval(f"{answer}.scrollTop = {answer}.scrollHeight")  # back to the bottom: follow again
    grown = page.eval(f"{answer}.scrollHeight")
    page.wait(f"{answer}.scrollHeight > {grown} + 200", 30)
    assert page.eval(gap) < 60, "did not resume following at the bottom"
    wait_status(page, "done", "cancelled", "error", timeout_s=60)
