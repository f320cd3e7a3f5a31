"""Views on real processes: a demo response asked for every built-in view, each read as its own
resumable SSE stream (`?view=NAME`) and checked against the raw stream it was made from."""

from __future__ import annotations

import re

import pytest

from .procs import Edge, Stack
from .sse import assert_contiguous, client_for, create, delta_text, read_all, read_events

pytestmark = pytest.mark.integration

VIEWS = ["sentences", "plain", "markdown", "moderated"]


def demo(tokens: int = 400, rate: float = 800, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "demo",
        "input": "Explain Kafka consumer groups.",
        "params": {"tokens": tokens, "rate": rate},
    }
    return {**body, **extra}


async def test_every_view_is_a_complete_stream_made_from_the_raw_one(
    shared: tuple[Stack, Edge],
) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        # A moderated response is served only through its moderated view (its raw stream is
        # withheld): the same (deterministic) demo answer, asked twice.
        rid = await create(client, demo(views=[v for v in VIEWS if v != "moderated"]))
        mid = await create(client, demo(views=["moderated"], moderation={"redact": [r"\bthe\b"]}))
        raw = await read_all(client, rid, wait_known_s=10)
        got = {v: await read_all(client, mid if v == "moderated" else rid, view=v, wait_known_s=10)
               for v in VIEWS}  # fmt: skip
    assert_contiguous(raw.events)
    text = delta_text(raw.events)
    assert "```" in text and " the " in text  # the demo answer has code and the word to redact
    last_raw = raw.events[-1].seq
    for name, read in got.items():
        assert_contiguous(read.events)
        raw_seqs = [e.data["raw_seq"] for e in read.events]
        assert raw_seqs == sorted(raw_seqs), name
        assert raw_seqs[-1] == last_raw or name == "moderated", name  # its own raw stream
        assert all(e.data["rid"] == (mid if name == "moderated" else rid) for e in read.events)
    sentences = [e.data["text"] for e in got["sentences"].events if e.type == "sentence"]
    assert len(sentences) > 3 and "".join(sentences) == text
    markdown = delta_text(got["markdown"].events)
    assert markdown.startswith(text) and len(markdown) - len(text) <= 5
    plain = delta_text(got["plain"].events)
    assert "```" not in plain and "**" not in plain and len(plain) > len(text) / 2
    moderated = delta_text(got["moderated"].events)
    assert "[redacted]" in moderated and not re.search(r"\bthe\b", moderated)
    assert moderated == re.sub(r"\bthe\b", "[redacted]", text)


async def test_a_view_resumes_from_last_event_id(shared: tuple[Stack, Edge]) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        rid = await create(client, demo(tokens=600, rate=300, views=["sentences"]))
        first = await read_events(client, rid, view="sentences", limit=3)
        assert first.status == 200 and first.seqs == [1, 2, 3], first.body
        rest = await read_all(client, rid, view="sentences", last_event_id=3)
        again = await read_events(client, rid, view="sentences", last_event_id=rest.seqs[-1])
    assert_contiguous(first.events + rest.events)
    assert again.status == 204


async def test_a_blocking_rule_ends_the_moderated_view(shared: tuple[Stack, Edge]) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        rid = await create(client, demo(views=["moderated"], moderation={"block": ["consumer"]}))
        read = await read_all(client, rid, view="moderated", wait_known_s=10)
    assert_contiguous(read.events, terminal="error")
    end = read.events[-1].data
    assert end["code"] == "moderated" and end["retriable"] is False
    assert "consumer" not in delta_text(read.events)


async def test_unknown_and_unasked_views_are_refused(shared: tuple[Stack, Edge]) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        bad = await client.post("/v1/responses", json=demo(views=["nope"]))
        rid = await create(client, demo(tokens=20, views=["plain"]))
        unknown = await read_events(client, rid, view="nope")
        unasked = await read_events(client, rid, view="sentences")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    assert unknown.status == 400 and unknown.error is not None
    assert unasked.status == 404 and unasked.error is not None
