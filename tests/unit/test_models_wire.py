"""The upstream adapters against recorded wire bytes, fed through httpx's MockTransport in
1-byte and odd-sized network reads (so every character, line and event is split somewhere)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from agents.models.anthropic_messages import AnthropicMessages
from agents.models.openai_chat import OpenAIChat
from agents.models.upstream import retry_after_s
from app.contract.requests import Call
from app.errors import UpstreamError
from tests.fakes import wire

SSE = {"content-type": "text/event-stream; charset=utf-8"}
Handler = Callable[[httpx.Request], httpx.Response]


def streamed(
    status: int,
    headers: dict[str, str] | list[tuple[str, str]],
    events: list[bytes],
    size: int = 1,
    then: Exception | None = None,
) -> Handler:
    data = b"".join(events)

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]
        if then is not None:
            raise then

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body())

    return handler


def call(model: str, **params: object) -> Call:
    messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"})
    return Call("answer", model, messages, params)


async def run_openai(handler: Handler, key: str = "sk-test") -> list[str]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = OpenAIChat(client, "http://up/v1", key)
        return [t async for t in adapter.stream(call("openai/gpt-4o-mini")) if type(t) is str]


async def run_anthropic(handler: Handler) -> list[str]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = AnthropicMessages(client, "http://up", "key-a", 512)
        return [t async for t in adapter.stream(call("anthropic/claude-x")) if type(t) is str]


async def fails(run: AsyncIterator[str] | object) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await run  # type: ignore[misc]
    return caught.value


OPENAI_MODEL = "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize("size", [1, 3, 7, 64, 100_000])
async def test_openai_text_is_intact_across_any_network_split(size: int) -> None:
    events = wire.openai_stream(OPENAI_MODEL, wire.pieces())
    got = await run_openai(streamed(200, wire.OPENAI_HEADERS, events, size))
    assert "".join(got) == wire.TEXT
    assert all(got), "role, finish and usage chunks yield no empty text"


async def test_openai_stream_ending_after_finish_without_done_is_complete() -> None:
    events = wire.openai_stream(OPENAI_MODEL, ["a", "b"])[:-2]  # no usage chunk, no [DONE]
    assert "".join(await run_openai(streamed(200, SSE, events))) == "ab"


async def test_openai_request_is_a_streaming_chat_completion() -> None:
    seen: list[httpx.Request] = []
    events = wire.openai_stream(OPENAI_MODEL, ["ok"])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streamed(200, SSE, events)(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = OpenAIChat(client, "http://up/v1/", "sk-test")
        got = [
            t
            async for t in adapter.stream(call("openai/org/model-7b", max_tokens=9, stop=["x"]))
            if type(t) is str
        ]
    assert got == ["ok"]
    (request,) = seen
    assert str(request.url) == "http://up/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert orjson.loads(request.content) == {
        "model": "org/model-7b",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 9,
        "stop": ["x"],
    }


async def test_openai_without_key_sends_no_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streamed(200, SSE, wire.openai_stream(OPENAI_MODEL, ["ok"]))(request)

    await run_openai(handler, key="")
    assert "authorization" not in seen[0].headers


async def test_openai_error_chunk_mid_stream_is_retriable() -> None:
    events = wire.openai_stream(OPENAI_MODEL, ["a", "b"])[:3] + [wire.OPENAI_STREAM_ERROR]
    exc = await fails(run_openai(streamed(200, SSE, events)))
    assert (exc.code, exc.retriable, exc.upstream_status) == ("upstream_error", True, 200)
    assert "server_error" in exc.message and "Sorry about that" in exc.message


async def test_vllm_error_chunk_carries_its_status() -> None:
    error = b'data: {"object":"error","message":"bad","type":"BadRequestError","param":null,'
    error += b'"code":400}\n\n'
    exc = await fails(run_openai(streamed(200, SSE, [wire.openai_role(OPENAI_MODEL), error])))
    assert (exc.code, exc.retriable, exc.upstream_status) == ("upstream_rejected", False, 400)


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retriable", "words"),
    [
        (429, wire.OPENAI_429_BODY, {"retry-after": "7"}, "rate_limited", True, "retry after 7 s"),
        (404, wire.OPENAI_404_BODY, {}, "upstream_rejected", False, "does not exist"),
        (503, wire.OPENAI_503_BODY, {}, "upstream_unavailable", True, "overloaded"),
        (401, b'{"error":"bad key"}', {}, "upstream_auth", False, "bad key"),
        (502, b"<html>Bad gateway</html>", {}, "upstream_unavailable", True, "Bad gateway"),
    ],
)
async def test_openai_http_errors(
    status: int, body: bytes, headers: dict[str, str], code: str, retriable: bool, words: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    exc = await fails(run_openai(handler))
    assert (exc.code, exc.retriable, exc.upstream_status) == (code, retriable, status)
    assert words in exc.message


async def test_openai_stream_cut_before_done_is_dropped() -> None:
    events = wire.openai_stream(OPENAI_MODEL, ["a", "b"])[:3]  # clean EOF, no finish, no [DONE]
    exc = await fails(run_openai(streamed(200, SSE, events)))
    assert (exc.code, exc.retriable, exc.upstream_status) == ("upstream_dropped", True, 200)


async def test_openai_connection_reset_mid_body_is_dropped() -> None:
    events = wire.openai_stream(OPENAI_MODEL, ["a", "b"])[:3]
    broken = httpx.RemoteProtocolError("peer closed connection without sending complete body")
    exc = await fails(run_openai(streamed(200, SSE, events, size=5, then=broken)))
    assert (exc.code, exc.retriable, exc.upstream_status) == ("upstream_dropped", True, 200)


async def test_openai_unreachable_is_retriable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    exc = await fails(run_openai(handler))
    assert (exc.code, exc.retriable, exc.upstream_status) == ("upstream_unreachable", True, None)


async def test_a_200_that_is_not_a_stream_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": []})

    exc = await fails(run_openai(handler))
    assert (exc.code, exc.retriable) == ("upstream_protocol", False)


ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
async def test_anthropic_text_is_intact_across_any_network_split(size: int) -> None:
    events = wire.anthropic_stream(ANTHROPIC_MODEL, wire.pieces())
    events.insert(3, wire.anthropic_thinking("hmm, "))  # not part of the answer
    got = await run_anthropic(streamed(200, wire.ANTHROPIC_HEADERS, events, size))
    assert "".join(got) == wire.TEXT
    assert all(got)


async def test_anthropic_request_moves_system_to_the_top_level() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streamed(200, SSE, wire.anthropic_stream(ANTHROPIC_MODEL, ["ok"]))(request)

    assert await run_anthropic(handler) == ["ok"]
    (request,) = seen
    assert str(request.url) == "http://up/v1/messages"
    assert request.headers["x-api-key"] == "key-a"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert orjson.loads(request.content) == {
        "model": "claude-x",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "system": "Be brief.",
    }


async def test_anthropic_error_event_mid_stream() -> None:
    events = wire.anthropic_stream(ANTHROPIC_MODEL, ["a", "b"])[:5]
    events.append(wire.ANTHROPIC_OVERLOADED_EVENT)
    exc = await fails(run_anthropic(streamed(200, SSE, events)))
    assert (exc.code, exc.retriable, exc.upstream_status) == ("upstream_unavailable", True, 529)
    assert "overloaded_error: Overloaded" in exc.message


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retriable"),
    [
        (429, wire.ANTHROPIC_429_BODY, {"retry-after": "12"}, "rate_limited", True),
        (529, wire.ANTHROPIC_529_BODY, {}, "upstream_unavailable", True),
        (400, wire.ANTHROPIC_400_BODY, {}, "upstream_rejected", False),
    ],
)
async def test_anthropic_http_errors(
    status: int, body: bytes, headers: dict[str, str], code: str, retriable: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    exc = await fails(run_anthropic(handler))
    assert (exc.code, exc.retriable, exc.upstream_status) == (code, retriable, status)
    if status == 429:
        assert "rate_limit_error" in exc.message and "retry after 12 s" in exc.message


async def test_anthropic_stream_cut_before_message_stop_is_dropped() -> None:
    events = wire.anthropic_stream(ANTHROPIC_MODEL, ["a", "b"])[:-1]
    exc = await fails(run_anthropic(streamed(200, SSE, events)))
    assert (exc.code, exc.retriable) == ("upstream_dropped", True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_s(httpx.Headers(headers)) == seconds
