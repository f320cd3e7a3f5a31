"""The moderated view judged by an OpenAI-compatible moderation endpoint, on real processes: a
flagged word ends the view with `moderated`; an endpoint that is down ends it with
`moderation_unavailable` (fail closed), promptly, never a hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.fakes.moderation import FakeModeration

from .procs import Stack, free_port
from .sse import assert_contiguous, client_for, create, delta_text, read_all

pytestmark = pytest.mark.integration

WORD = "consumer"  # the demo answer ("Explain Kafka consumer groups.") says it


@pytest.fixture
def moderation() -> Iterator[FakeModeration]:
    fake = FakeModeration(words=(WORD,)).start()
    yield fake
    fake.stop()


def demo(**extra: object) -> dict[str, object]:
    return {"model": "demo", "input": "Explain Kafka consumer groups.",
            "params": {"tokens": 300, "rate": 600}, "views": ["moderated"], **extra}  # fmt: skip


async def test_a_flagged_word_ends_the_moderated_view(
    stack: Stack, moderation: FakeModeration
) -> None:
    worker = asyncio.ensure_future(stack.worker(moderation_url=moderation.url))
    edge = await stack.edge()
    await worker
    async with client_for(edge.url) as client:
        rid = await create(client, demo())
        raw = await read_all(client, rid, view="moderated", wait_known_s=10)
    assert_contiguous(raw.events, terminal="error")
    end = raw.events[-1].data
    assert end["code"] == "moderated" and end["retriable"] is False, end
    assert "harassment" in end["message"]
    assert WORD not in delta_text(raw.events).lower()
    judged = moderation.inputs
    assert judged and any(WORD in text.lower() for text in judged)
    # Chunks, not tokens: every judged text but the flagged one ends a sentence or a line, or
    # is longer than the hold-back window.
    assert all(t[-1] in " \n" or len(t) > 64 for t in judged[:-1]), judged[:5]
    assert len(judged) < 30  # the 300-token answer was cut short at the word, a few chunks in


async def test_an_endpoint_that_is_down_ends_the_view_unavailable(stack: Stack) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    worker = asyncio.ensure_future(stack.worker(moderation_url=down, moderation_timeout_s=2.0))
    edge = await stack.edge()
    await worker
    async with client_for(edge.url) as client:
        rid = await create(client, demo())
        started = time.monotonic()
        read = await read_all(client, rid, view="moderated", wait_known_s=10, timeout_s=30)
    assert time.monotonic() - started < 20
    assert_contiguous(read.events, terminal="error")
    end = read.events[-1].data
    assert end["code"] == "moderation_unavailable" and end["retriable"] is True, end
    assert delta_text(read.events) == ""  # fail closed: nothing unjudged was released
