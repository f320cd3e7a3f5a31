"""What the browser tests do with the demo page: open it, send, read its state, and check
the final rendering against the edge's snapshot.

"Final text" is checked twice over: the raw text the client received must equal the
snapshot's `sources.answer` exactly (no repeated, no missing part), and the DOM of `#answer`,
rendered progressively, must equal markdown-it's one-shot rendering of that snapshot text, in
the page, with the same options: its textContent, and its HTML once the chunk wrappers the
view groups blocks into (for content-visibility) are left out.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from .browser import Browser

TERMINAL = ("done", "cancelled", "error")


def open_demo(page: Browser, base_url: str, **params: Any) -> None:
    page.goto(f"{base_url}/?{urlencode(params)}" if params else f"{base_url}/")
    page.wait("window.tokenrelay !== undefined", timeout_s=20)


def send(page: Browser) -> str:
    """Click Send; returns the response id once the page has attached to it."""
    page.click("#send")
    return str(page.wait("tokenrelay.state().rid", timeout_s=30))


def state(page: Browser) -> dict[str, Any]:
    got: dict[str, Any] = page.eval("tokenrelay.state()")
    return got


def answer_length(page: Browser) -> int:
    return int(page.eval("document.querySelector('#answer').textContent.length"))


def has_cursor(page: Browser) -> bool:
    return bool(page.eval("!!document.querySelector('#answer .tr-cursor')"))


def wait_status(page: Browser, *states: str, timeout_s: float = 60.0) -> str:
    status = "tokenrelay.state().status"
    expr = f"{json.dumps(list(states))}.includes({status}) && {status}"
    try:
        return str(page.wait(expr, timeout_s=timeout_s, poll_ms=100))
    except AssertionError as exc:
        st = state(page)
        st["text"] = f"{len(st['text'])} chars"
        detail = page.eval("document.querySelector('#detail').textContent")
        raise AssertionError(f"status never became {states}: {st}, detail {detail!r}") from exc


def wait_length(page: Browser, at_least: int, timeout_s: float = 30.0) -> None:
    page.wait(f"document.querySelector('#answer').textContent.length >= {at_least}", timeout_s)


def snapshot(
    base_url: str, rid: str, timeout_s: float = 20.0, key: str | None = None
) -> dict[str, Any]:
    """The edge's snapshot once it shows a terminal status (it may trail the page briefly);
    `key`: an API key, for an edge with auth on."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    while True:
        url = f"{base_url}/v1/responses/{rid}"
        snap: dict[str, Any] = httpx.get(url, timeout=10, headers=headers).json()
        if snap["status"] in TERMINAL or time.monotonic() > deadline:
            return snap
        time.sleep(0.2)


def assert_matches_snapshot(page: Browser, snap: dict[str, Any]) -> None:
    st = state(page)
    expected = snap["sources"].get("answer", "")
    assert st["lastSeq"] == snap["last_seq"], (st["lastSeq"], snap["last_seq"])
    assert st["text"] == expected, _first_difference(st["text"], expected)
    dom = page.eval(
        f"""(() => {{
            const el = document.querySelector('#answer');
            const once = tokenrelay.renderOnce({json.dumps(expected)});
            const wrappers = [...el.children].filter(c => c.className !== 'tr-chunk').length;
            return {{html: tokenrelay.views.get('answer').html, text: el.textContent,
                     onceHtml: once.html, onceText: once.text, wrappers}};
        }})()"""
    )
    assert dom["wrappers"] == 0, "#answer holds more than its chunks of committed blocks"
    assert " ".join(dom["text"].split()) == " ".join(dom["onceText"].split())
    assert dom["html"] == dom["onceHtml"], _first_difference(dom["html"], dom["onceHtml"])
    assert not has_cursor(page), "the typing cursor is still shown after the terminal event"


def _first_difference(got: str, want: str) -> str:
    i = next((k for k, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    i = min(len(got), len(want)) if i is None else i
    return (
        f"lengths {len(got)} vs {len(want)}; first difference at {i}: "
        f"got {got[max(0, i - 60) : i + 60]!r}, want {want[max(0, i - 60) : i + 60]!r}"
    )
