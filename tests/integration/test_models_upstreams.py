"""The upstream adapters end to end: a worker calling a local fake OpenAI-compatible server and
a fake Anthropic server (recorded wire bytes, characters split across network writes), its
tokens through Kafka to an SSE reader. Every failure ends in one terminal `error` carrying
`retriable`, `code` and the upstream's status.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.fakes import wire
from tests.fakes.upstream import FakeUpstream

from .sse import SseRead, assert_contiguous, create, delta_text, read_all, read_events

pytestmark = pytest.mark.integration

FIRST_TOKEN_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def gen_settings(gen_settings: dict[str, Any]) -> dict[str, Any]:
    return {**gen_settings, "generation_first_token_timeout_s": FIRST_TOKEN_TIMEOUT_S}


async def read_whole(client: httpx.AsyncClient, rid: str) -> SseRead:
    """read_all, after waiting out a race of the edge (reported to the lead): a response that
    ended within milliseconds can be known as finished (responses index) before its events are
    in <prefix>.events, and a reader arriving just then is told 410."""
    for _ in range(50):
        probe = await read_events(client, rid, limit=0, timeout_s=10)
        if probe.status not in (404, 410):
            break
        await asyncio.sleep(0.1)
    return await read_all(client, rid, timeout_s=30)


MESSAGES = [
    {"role": "system", "content": "Answer in German."},
    {"role": "user", "content": "Grüß mich"},
]


@pytest.mark.parametrize("model", ["openai/text", "openai/no-done", "anthropic/text"])
async def test_text_arrives_intact(
    client: httpx.AsyncClient, fake: FakeUpstream, model: str
) -> None:
    rid = await create(client, {"model": model, "messages": MESSAGES, "params": {"max_tokens": 64}})
    got = await read_whole(client, rid)
    assert_contiguous(got.events)
    assert delta_text(got.events) == wire.TEXT
    assert [e.type for e in got.events[-2:]] == ["source.done", "done"]
    (seen,) = fake.find(
        lambda s: (
            s.body.get("messages", [{}])[-1].get("content") == "Grüß mich"
            and s.scenario == model.split("/")[1]
            and s.finished
        )
    )[-1:]
    if model.startswith("openai/"):
        assert seen.path == "/v1/chat/completions"
        assert seen.headers["authorization"] == "Bearer sk-test"
        assert seen.body["stream"] is True and seen.body["stream_options"] == {
            "include_usage": True
        }
        assert seen.body["messages"] == MESSAGES and seen.body["max_tokens"] == 64
    else:
        assert seen.path == "/v1/messages"
        assert (seen.headers["x-api-key"], seen.headers["anthropic-version"]) == (
            "key-a",
            "2023-06-01",
        )
        assert seen.body["system"] == "Answer in German."
        assert seen.body["messages"] == MESSAGES[1:] and seen.body["max_tokens"] == 64


FAILURES = [
    # model, code, retriable, upstream status, words in the message, text before the error
    ("openai/error-mid", "upstream_error", True, 200, "server_error", 3),
    ("openai/http429", "rate_limited", True, 429, "retry after 7 s", 0),
    ("openai/http404", "upstream_rejected", False, 404, "does not exist", 0),
    ("openai/http503", "upstream_unavailable", True, 503, "overloaded", 0),
    ("openai/drop", "upstream_dropped", True, 200, "broke off", 3),
    ("openai/slow-first", "first_token_timeout", True, None, "first token", 0),
    ("anthropic/overloaded-mid", "upstream_unavailable", True, 529, "overloaded_error", 3),
    ("anthropic/http429", "rate_limited", True, 429, "retry after 12 s", 0),
    ("anthropic/http529", "upstream_unavailable", True, 529, "Overloaded", 0),
    ("anthropic/http400", "upstream_rejected", False, 400, "max_tokens", 0),
    ("anthropic/drop", "upstream_dropped", True, 200, "broke off", 3),
    ("anthropic/slow-first", "first_token_timeout", True, None, "first token", 0),
]


@pytest.mark.parametrize(("model", "code", "retriable", "status", "words", "pieces"), FAILURES)
async def test_upstream_failure_ends_with_terminal_error(
    client: httpx.AsyncClient,
    fake: FakeUpstream,
    model: str,
    code: str,
    retriable: bool,
    status: int | None,
    words: str,
    pieces: int,
) -> None:
    prompt = f"{model} {time.monotonic()}"
    started = time.monotonic()
    rid = await create(client, {"model": model, "input": prompt})
    got = await read_whole(client, rid)
    took = time.monotonic() - started
    assert_contiguous(got.events, terminal="error")
    error = got.events[-1].data
    assert (error["code"], error["retriable"], error.get("status")) == (code, retriable, status), (
        error
    )
    assert words in error["message"], error
    assert error["source"] == "answer"
    assert delta_text(got.events) == "".join(wire.pieces()[:pieces])
    assert not any(e.type == "source.done" for e in got.events)
    if code == "first_token_timeout":
        assert FIRST_TOKEN_TIMEOUT_S <= took < FIRST_TOKEN_TIMEOUT_S + 3, took
        (seen,) = fake.find(lambda s: s.prompt == prompt)
        assert seen.closed.wait(5), "the worker did not close the timed-out upstream request"


async def test_models_lists_demo_and_configured_upstreams(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/models")
    assert resp.status_code == 200
    assert resp.json() == {"models": ["demo", "openai/*", "anthropic/*"]}
