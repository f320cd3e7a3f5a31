"""The upstream wire parsers (ChatStream, MessageStream) on arbitrary and malformed events: each
event yields items or raises UpstreamError (a clear `error` event for the reader), the end of
the body is fine or UpstreamError, and the usage reported is a Usage or None: never another
exception, which would end a generation with `generation of … failed` and no terminal event
but the watchdog's.

The events are built from the keys and values the parsers look at, nested at random, so the
generated chunks reach their branches (a tool call without a name, a citation that is a list,
an index that is a string) rather than only failing the first isinstance check.
"""

from __future__ import annotations

from typing import Any

import orjson
from httpx_sse import ServerSentEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.models.anthropic_messages import MessageStream
from agents.models.base import Citation, ToolCall
from agents.models.openai_chat import ChatStream
from app.errors import UpstreamError
from app.usage import Usage

KEYS = [
    # OpenAI's chunks
    "choices", "index", "delta", "content", "refusal", "tool_calls", "function_call", "id",
    "function", "name", "arguments", "finish_reason", "usage", "error", "object", "code",
    "message", "type", "prompt_tokens", "completion_tokens",
    # Anthropic's events
    "content_block", "partial_json", "citation", "citations", "text", "input", "stop_reason",
    "input_tokens", "output_tokens", "cache_read_input_tokens",
]  # fmt: skip
WORDS = [
    "text_delta", "input_json_delta", "citations_delta", "content_block_start",
    "content_block_delta", "content_block_stop", "message_start", "message_delta",
    "message_stop", "tool_use", "text", "error", "ping", "answer", "stop", "tool_calls",
    "invalid_request_error", "overloaded_error", "[DONE]", '{"a": 1', "{}",
]  # fmt: skip
ATOMS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(WORDS) | st.text()
)  # fmt: skip
JSON = st.recursive(
    ATOMS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6),
    max_leaves=40,
)
DATA = st.one_of(
    JSON.map(lambda v: orjson.dumps(v).decode()),
    st.sampled_from(["[DONE]", " [DONE] ", "", "{", "null", "[]", '"x"']),
    st.text(),
)
EVENTS = st.lists(
    st.builds(ServerSentEvent, event=st.sampled_from(["message", "error", *WORDS]), data=DATA),
    max_size=12,
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fold(parser: Any, stream: list[ServerSentEvent], status: int) -> None:
    try:
        for event in stream:
            for item in parser.feed(event, status):
                assert type(item) in (str, ToolCall, Citation), item
        parser.end(status)
    except UpstreamError as exc:
        assert exc.code and isinstance(exc.message, str)
    reported = parser.reported()
    assert reported is None or isinstance(reported, Usage)


@SETTINGS
@given(EVENTS, st.sampled_from([200, 201]))
def test_chat_stream_on_any_events_yields_items_or_an_upstream_error(
    stream: list[ServerSentEvent], status: int
) -> None:
    _fold(ChatStream(), stream, status)


@SETTINGS
@given(EVENTS, st.sampled_from([None, "answer_json"]))
def test_message_stream_on_any_events_yields_items_or_an_upstream_error(
    stream: list[ServerSentEvent], format_tool: str | None
) -> None:
    _fold(MessageStream(format_tool), stream, 200)


def test_chat_stream_choices_not_a_list_is_an_upstream_protocol_error() -> None:
    # `{"choices": 1}` raised TypeError in the parser: the response ended `generation_failed`,
    # retriable, as if the worker had broken, instead of naming the server's fault.
    for bad in ("1", '"abc"', '{"index": 0}', "true"):
        parser = ChatStream()
        try:
            parser.feed(ServerSentEvent(data=f'{{"choices": {bad}}}'))
        except UpstreamError as exc:
            assert exc.code == "upstream_protocol" and not exc.retriable
        else:
            raise AssertionError(f"choices {bad} was accepted")
