"""The worker that writes a response's views SIGKILLed mid-response and replaced: each view still
ends complete, with no repeated or missing seq, and the same content as the raw text says.

The test publishes the response itself with the producer SDK (the writer lives on), so only the
views agent dies; its replacement replays the response's raw events from the start."""

from __future__ import annotations

import asyncio
import re
import time

import orjson
import pytest

from app.producer import Publisher, new_response_id

from .procs import Stack
from .sse import SseRead, assert_contiguous, client_for, delta_text, read_all, read_events

pytestmark = pytest.mark.integration

SENTENCES = 900
KILL_AFTER = SENTENCES // 3
PUBLISH_S = 6.0
RULE = r"\bsecret\d+\b"


def item(i: int) -> dict[str, object]:
    return {"n": i, "text": f'item {i}, with a [bracket] and "quotes"', "ok": i % 2 == 0}


async def publish(pub: Publisher, rids: tuple[str, str, str], passed: asyncio.Event) -> str:
    """The same text as two responses (a moderated response is served only through its
    moderated view, app/edge/withhold.py, so the other views are read from the other one), and
    a JSON document of as many items as a third, for the json view."""
    w, m, j = (pub.response(r) for r in rids)
    await w.open(("sentences", "citations"), {"sources": [{"id": "doc"}]})
    await m.open(("moderated",), {"moderation": {"redact": [RULE]}})
    await j.open(("json",), {"json": {"answer": None}})
    await j.delta('{"items": [')
    sent = []
    start = time.monotonic()
    for i in range(1, SENTENCES + 1):
        for piece in (f"Sentence {i} has ", f"secret{i} in", " it [doc]. "):
            await w.delta(piece)
            await m.delta(piece)
            sent.append(piece)
        doc = orjson.dumps(item(i)).decode() + ("," if i < SENTENCES else "]}")
        for at in range(0, len(doc), 7):
            await j.delta(doc[at : at + 7])
        if i == KILL_AFTER:
            await asyncio.gather(w.flush(), m.flush(), j.flush())
            passed.set()
        if i % 10 == 0:
            delay = start + i * PUBLISH_S / SENTENCES - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    await asyncio.gather(w.done(), m.done(), j.done())
    return "".join(sent)


async def test_views_survive_a_worker_sigkill(stack: Stack) -> None:
    worker = await stack.worker()
    edge = await stack.edge()
    rid, mrid, jrid = new_response_id(), new_response_id(), new_response_id()
    passed = asyncio.Event()
    async with Publisher(stack.settings) as pub, client_for(edge.url) as client:
        publisher = asyncio.create_task(publish(pub, (rid, mrid, jrid), passed))
        readers = [
            asyncio.create_task(read_all(client, r, view=v, wait_known_s=20, timeout_s=150))
            for r, v in (
                (rid, "sentences"),
                (mrid, "moderated"),
                (rid, "citations"),
                (jrid, "json"),
            )
        ]
        async with asyncio.timeout(60):
            await passed.wait()
        # The views agent has written part of each view: the kill is mid-view.
        early = await read_events(client, rid, view="sentences", limit=5)
        assert early.status == 200 and early.seqs == [1, 2, 3, 4, 5], early.body
        worker.kill()
        replacement = await stack.worker()
        text = await publisher
        sentences, moderated, citations, structured = await asyncio.gather(*readers)
        late: SseRead = await read_all(client, rid, view="sentences")  # from Kafka, after the fact

    assert not worker.alive and replacement.alive
    for read in (sentences, moderated, late, citations, structured):
        assert_contiguous(read.events)
    said = [e.data["text"] for e in sentences.events if e.type == "sentence"]
    assert len(said) == SENTENCES and "".join(said) == text
    assert [e.data for e in late.events] == [e.data for e in sentences.events]
    assert delta_text(moderated.events) == re.sub(RULE, "[redacted]", text)
    assert delta_text(citations.events) == text
    assert [e.type for e in citations.events].count("citation") == SENTENCES
    got = [(e.data["path"], e.data["value"]) for e in structured.events if e.type == "json"]
    items = [item(i) for i in range(1, SENTENCES + 1)]
    assert got == [*((f"/items/{i}", v) for i, v in enumerate(items)), ("/items", items)]
