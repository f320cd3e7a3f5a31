"""The demo page on an edge with auth on, in real Chromium: opened with the key in the URL's
fragment (as `tokenrelay up` prints it), it keeps the key, takes it out of the address bar,
sends it on POST and cancel and reads its answer with the read token the POST returned; opened
without a key it says plainly what it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration.apikeys import create_key
from integration.conftest import started
from integration.procs import Edge, Stack

from .browser import Browser
from .pagekit import assert_matches_snapshot, open_demo, send, snapshot, state, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Edge]]:
    with started(broker, tmp_path_factory, auth="on") as s:
        yield s, next(p for p in s.procs if isinstance(p, Edge))


def test_the_key_in_the_fragment_drives_the_page(
    secured: tuple[Stack, Edge], page: Browser
) -> None:
    stack, edge = secured
    key = create_key(stack, "demo-page")
    page.goto(f"{edge.url}/?tokens=60&rate=100#key={key}")
    page.wait("window.tokenrelay !== undefined", timeout_s=20)
    assert page.eval("location.hash") == ""  # out of the address bar (and any copied link)
    assert page.eval("localStorage.getItem('tokenrelay.key')") == key
    rid = send(page)
    assert wait_status(page, "done", "cancelled", "error") == "done", state(page)
    # This tab's own answer is read with its read token, not with the key.
    assert page.eval("tokenrelay.stream.options.token()").startswith("eyJ")
    assert_matches_snapshot(page, snapshot(edge.url, rid, key=key))
    assert page.eval("document.querySelector('#notice').hidden")
    page.wait("tokenrelay.state().turns.length === 1", timeout_s=20)  # the conversation, by key

    open_demo(page, edge.url, tokens=5000, rate=50)  # a reload: the key is remembered
    send(page)
    wait_status(page, "streaming", timeout_s=30)
    page.click("#stop")  # cancel sends the key
    assert wait_status(page, "done", "cancelled", "error") == "cancelled"


def test_without_a_key_the_page_says_what_it_needs(
    secured: tuple[Stack, Edge], page: Browser
) -> None:
    _, edge = secured
    open_demo(page, edge.url)
    page.wait("!document.querySelector('#notice').hidden", timeout_s=20)  # the conversation's 401
    page.click("#send")
    wait_status(page, "error", timeout_s=20)
    notice = page.eval("document.querySelector('#notice').textContent")
    assert "needs an API key" in notice and "#key=" in notice, notice
    assert "401" in page.eval("document.querySelector('#detail').textContent")
