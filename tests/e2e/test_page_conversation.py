"""The demo page follows its conversation (`/?c=ID`) in real Chromium against a real worker,
edge and storage: page A sends two prompts; page B, on the same URL and opened between them,
sees the second turn grow live (its conversation connection dropped mid-answer and resumed with
its cursor) and ends with both turns' answers equal to the raw streams read over HTTP; A
reloaded shows both turns again, from the conversation stream's start.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from integration.procs import Edge, Stack
from integration.sse import client_for, delta_text, read_all

from .browser import Browser
from .conftest import ARTIFACTS
from .pagekit import assert_matches_snapshot, open_demo, snapshot, state, wait_status

pytestmark = pytest.mark.integration

PROMPTS = ["What is a **resumable** stream? <b>not markup</b>", "And across two tabs?"]
TURNS = "tokenrelay.state().turns"


def ask(page: Browser, prompt: str, previous: str | None) -> str:
    """Type the prompt, Send; the id of the response the page attached to."""
    page.eval(f"document.querySelector('#prompt').value = {json.dumps(prompt)}")
    page.click("#send")
    return str(page.wait(f"(r => r !== {json.dumps(previous)} && r)(tokenrelay.state().rid)"))


def wait_turns(page: Browser, n: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    done = f"{TURNS}.length === {n} && {TURNS}.every(t => t.status === 'done') && {TURNS}"
    got: list[dict[str, Any]] = page.wait(done, timeout_s=timeout_s, poll_ms=100)
    return got


def dom_turns(page: Browser) -> list[dict[str, Any]]:
    """Each #turns item as shown, with the answer's one-shot rendering to compare with."""
    got: list[dict[str, Any]] = page.eval(
        """[...document.querySelectorAll('#turns > li')].map(li => ({
            rid: li.dataset.rid, status: li.dataset.status,
            prompt: li.querySelector('.turn-prompt').textContent,
            text: li.querySelector('.turn-answer').textContent,
            once: tokenrelay.renderOnce(tokenrelay.turns.turns.get(li.dataset.rid).view.text).text,
            cursor: !!li.querySelector('.tr-cursor'),
        }))"""
    )
    return got


def assert_shows(page: Browser, rids: list[str], raws: dict[str, str]) -> None:
    turns = wait_turns(page, len(rids))
    assert [(t["rid"], t["prompt"], t["text"]) for t in turns] == [
        (rid, prompt, raws[rid]) for rid, prompt in zip(rids, PROMPTS, strict=True)
    ]
    dom = dom_turns(page)
    assert [(d["rid"], d["prompt"], d["status"]) for d in dom] == [
        (rid, prompt, "done") for rid, prompt in zip(rids, PROMPTS, strict=True)
    ]
    for d in dom:
        assert " ".join(d["text"].split()) == " ".join(d["once"].split()), d["rid"]
        assert not d["cursor"], f"turn {d['rid']} still shows the typing cursor"
    assert page.eval("document.querySelector('#turns b')") is None  # a prompt is text


async def test_two_tabs_follow_one_conversation_live(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=160, rate=40)  # about 4 s per answer
    cid = str(page.wait("tokenrelay.state().conversation"))
    url = str(page.eval("location.href"))
    assert f"c={cid}" in url and page.eval("document.querySelector('#cid').textContent") == cid
    rid1 = ask(page, PROMPTS[0], None)
    assert wait_status(page, "done", "cancelled", "error") == "done"
    wait_turns(page, 1)

    b = page.other_tab("b")
    b.goto(url)
    b.wait("window.tokenrelay !== undefined", timeout_s=20)
    wait_turns(b, 1)  # the finished first turn, from the conversation stream's start
    b.wait(f"tokenrelay.state().rid === {json.dumps(rid1)}")

    rid2 = ask(page, PROMPTS[1], rid1)
    lengths: list[int] = []
    dropped = False
    probe = f"(t => t && [t.text.length, t.status])({TURNS}[1])"
    while True:
        got = b.eval(probe)
        if got is not None:
            length, status = got
            if status != "streaming":
                break
            lengths.append(length)
            if length > 0 and not dropped:
                b.eval("tokenrelay.conversation.drop()")  # as a network would, mid-answer
                dropped = True
        assert len(lengths) < 400, "the second turn did not finish in 80 s"
        await asyncio.sleep(0.2)
    assert len({n for n in lengths if n > 0}) >= 2, f"B's second turn did not grow live: {lengths}"
    assert lengths == sorted(lengths)

    async with client_for(edge.url) as client:
        raws = {rid: delta_text((await read_all(client, rid)).events) for rid in (rid1, rid2)}
        listed = (await client.get(f"/v1/conversations/{cid}")).json()
    assert [t["id"] for t in listed["turns"]] == [rid1, rid2]
    assert all(raws.values())

    assert_shows(b, [rid1, rid2], raws)
    stats = b.eval("tokenrelay.conversation.stats")
    assert stats["drops"] == 1 and stats["connects"] >= 2 and stats["turns"] == 2, stats
    b.wait(f"tokenrelay.state().rid === {json.dumps(rid2)}")  # #answer follows the latest turn
    assert wait_status(b, "done", "cancelled", "error") == "done"
    assert_matches_snapshot(b, snapshot(edge.url, rid2))
    b.screenshot(ARTIFACTS / "conversation-tab-b.png")

    assert_shows(page, [rid1, rid2], raws)
    page.reload()
    page.wait("window.tokenrelay !== undefined", timeout_s=20)
    assert state(page)["conversation"] == cid
    assert_shows(page, [rid1, rid2], raws)
    page.wait(f"tokenrelay.state().rid === {json.dumps(rid2)}")
    assert wait_status(page, "done", "cancelled", "error") == "done"
    assert_matches_snapshot(page, snapshot(edge.url, rid2))
    page.screenshot(ARTIFACTS / "conversation-reloaded.png")


def test_new_conversation_starts_empty_with_a_new_url(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = shared
    open_demo(page, edge.url, tokens=20, rate=200)
    first = str(page.wait("tokenrelay.state().conversation"))
    ask(page, "hello", None)
    wait_turns(page, 1)
    page.click("#new-conversation")
    second = str(page.wait("tokenrelay.state().conversation"))
    assert second != first
    assert f"c={second}" in str(page.eval("location.href"))
    assert page.eval(f"{TURNS}.length") == 0
    assert page.eval("document.querySelector('#answer').textContent") == ""
    assert httpx.get(f"{edge.url}/v1/conversations/{second}", timeout=10).status_code == 404
