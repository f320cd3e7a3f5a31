"""The demo page's view switch in real Chromium against a real worker and edge: sentences
appear one by one and add up to the raw answer; a switch mid-stream re-reads the chosen view
from its start and a dropped view stream resumes with its view; json shows a row per field
(and per item of a complete array or object).
The raw stream is read over HTTP by the test for comparison.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from integration.procs import Edge, Stack
from integration.sse import SseRead, client_for, delta_text, read_all

from .browser import Browser
from .conftest import ARTIFACTS
from .pagekit import assert_matches_snapshot, open_demo, send, snapshot, state, wait_status

pytestmark = pytest.mark.integration

ITEMS = "document.querySelectorAll('#sentences li')"


def choose_view(page: Browser, name: str) -> None:
    """What a user's pick in the #view select does: set it and fire `change`."""
    page.eval(
        f"""(() => {{ const s = document.querySelector('#view'); s.value = {json.dumps(name)};
            s.dispatchEvent(new Event('change')); }})()"""
    )


async def read(edge: Edge, rid: str, view: str | None = None) -> SseRead:
    async with client_for(edge.url) as client:
        return await read_all(client, rid, view=view, wait_known_s=10)


def dom_sentences(page: Browser) -> list[list[Any]]:
    got: list[list[Any]] = page.eval(
        f"[...{ITEMS}].map(li => [Number(li.dataset.seq), li.textContent])"
    )
    return got


async def assert_sentences_match(page: Browser, edge: Edge, rid: str) -> list[str]:
    raw = delta_text((await read(edge, rid)).events)
    view = await read(edge, rid, view="sentences")
    events = [(e.seq, e.text) for e in view.events if e.type == "sentence"]
    texts = state(page)["sentences"]
    assert "".join(texts) == raw, "the page's sentences do not add up to the raw answer"
    assert texts == [t for _, t in events]
    assert dom_sentences(page) == [[seq, t.strip()] for seq, t in events]
    return texts


async def test_sentences_appear_one_by_one_and_add_up_to_the_raw_answer(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=300, rate=60)  # about 5 s of streaming
    choose_view(page, "sentences")
    assert page.eval("document.querySelector('#answer').hidden")
    rid = send(page)
    counts: list[int] = []
    shot: Path | None = None
    sample = f"[{ITEMS}.length, tokenrelay.state().status]"
    while True:
        count, status = page.eval(sample)  # one read: count and status agree
        if status in ("done", "cancelled", "error"):
            break
        if status == "streaming":
            counts.append(count)
        if shot is None and count >= 4:
            shot = ARTIFACTS / "view-sentences.png"
            page.screenshot(shot)
        assert len(counts) < 400, "the response did not finish in 80 s"
        await asyncio.sleep(0.2)
    assert status == "done", state(page)
    grew = sum(1 for a, b in zip(counts, counts[1:], strict=False) if b > a)
    assert max(counts, default=0) > 1 and grew >= 2, f"items did not appear progressively: {counts}"
    assert counts == sorted(counts)
    texts = await assert_sentences_match(page, edge, rid)
    assert len(texts) > 3
    assert page.eval("document.querySelector('#count-unit').textContent") == "sentences"
    assert not page.eval("'live' in document.querySelector('#sentences').dataset")
    assert shot is not None and shot.stat().st_size > 10_000


async def test_switching_mid_stream_rereads_the_view_and_a_drop_resumes_it(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=500, rate=80)
    rid = send(page)
    page.wait("document.querySelector('#answer').textContent.length >= 200", 30)
    choose_view(page, "sentences")  # mid-stream: the sentences view from its first event
    page.wait(f"{ITEMS}.length >= 2", 30)
    assert page.eval("tokenrelay.stream.rid") == rid
    page.click("#drop")
    page.wait("tokenrelay.stream.stats.drops === 1 && tokenrelay.stream.stats.connects >= 2", 20)
    assert wait_status(page, "done", "cancelled", "error", timeout_s=60) == "done"
    stats = state(page)["stats"]
    assert stats["reconnects"] >= 1 and stats["gaps"] == 0, stats
    await assert_sentences_match(page, edge, rid)
    choose_view(page, "answer")  # back: the raw stream again, rendered from its start
    assert wait_status(page, "done", "cancelled", "error", timeout_s=30) == "done"
    assert_matches_snapshot(page, snapshot(edge.url, rid))
    choose_view(page, "json")  # this response was sent without a schema: said, not tried
    assert not page.eval("document.querySelector('#view-hint').hidden")
    assert page.eval("document.querySelectorAll('#json .json-row').length") == 0


async def test_json_rows_appear_for_each_field_and_match_the_final_json(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, rate=40)
    choose_view(page, "json")
    rid = send(page)
    page.wait("document.querySelectorAll('#json .json-row').length >= 3", 30)
    page.screenshot(ARTIFACTS / "view-json-midstream.png")
    assert wait_status(page, "done", "cancelled", "error", timeout_s=60) == "done"
    page.screenshot(ARTIFACTS / "view-json.png")
    final = json.loads(delta_text((await read(edge, rid)).events))
    view = await read(edge, rid, view="json")
    paths = [e.data["path"] for e in view.events if e.type == "json"]
    assert len(paths) == len(set(paths)), [(e.seq, e.type, e.data.get("path")) for e in view.events]
    events = {e.data["path"]: e.data["value"] for e in view.events if e.type == "json"}
    assert [e.data for e in view.events if e.type == "json.invalid"] == []
    assert isinstance(final, dict) and final
    assert state(page)["json"] == events
    rows = page.eval(
        """[...document.querySelectorAll('#json .json-row')].map(r =>
            [r.dataset.path, r.dataset.state, r.dataset.depth, 'opened' in r.dataset])"""
    )
    assert all(st == "complete" for _, st, _, _ in rows), rows
    assert [p for p, _, depth, _ in rows if depth == "0"] == ["/" + k for k in final], rows
    assert {p for p, _, _, opened in rows if not opened} == set(events), rows
    for key, value in final.items():
        assert events["/" + key] == value, key
        if isinstance(value, list) and value:  # an array opens into a row per item
            assert f"/{key}/{len(value) - 1}" in {p for p, *_ in rows}, (key, rows)
