"""Request bodies into calls (what the edge answers 400 to), and the model catalog."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import cache, conversation
from app import views as app_views
from app.catalog import Catalog
from app.errors import BadRequest
from app.request.calls import parse_calls
from app.settings import Settings


def test_single_call_is_the_answer_source() -> None:
    (call,) = parse_calls({"model": "demo", "input": "hi", "params": {"tokens": 5}}, 8)
    assert call.source == "answer" and call.model == "demo" and call.prompt == "hi"
    assert call.messages == ({"role": "user", "content": "hi"},)
    assert call.params == {"tokens": 5}


def test_messages_and_content_parts() -> None:
    body = {
        "model": "demo",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        ],
    }
    (call,) = parse_calls(body, 8)
    assert call.prompt == "ab"


def test_many_calls_keep_their_order_and_round_trip() -> None:
    body = {
        "calls": [
            {"source": "answer", "model": "openai/x", "input": "a"},
            {"source": "tool:search", "model": "demo", "input": "b", "params": {"stop": "z"}},
        ]
    }
    calls = parse_calls(body, 8)
    assert [c.source for c in calls] == ["answer", "tool:search"]
    assert calls[1].params == {"stop": ["z"]}
    # What the edge publishes, the worker reads back to the same calls.
    assert parse_calls({"calls": [c.to_dict() for c in calls]}, 8) == calls


@pytest.mark.parametrize(
    "body",
    [
        {"calls": []},
        {"calls": "x"},
        {"calls": [1]},
        {"calls": [{"model": "demo", "input": "a"}]},  # no source
        {"calls": [{"source": "", "model": "demo", "input": "a"}]},
        {"calls": [{"source": "has space", "model": "demo", "input": "a"}]},
        {"calls": [{"source": "x" * 65, "model": "demo", "input": "a"}]},
        {"calls": [{"source": "a", "model": "demo", "input": "a"}] * 2},  # same source twice
        {"calls": [{"source": f"s{i}", "model": "demo", "input": "a"} for i in range(9)]},
        {"calls": [{"source": "a", "model": "demo", "input": "a"}], "model": "demo"},
        {"model": "demo", "input": "a", "messages": [{"role": "user", "content": "b"}]},
        {"model": "demo", "messages": [{"role": "wizard", "content": "b"}]},
        {"model": "demo", "messages": [{"role": "user", "content": 5}]},
        {"model": "demo", "input": "a", "params": {"tokens": 0}},
        {"model": "demo", "input": "a", "params": {"tokens": True}},
        {"model": "demo", "input": "a", "params": {"max_tokens": 1.5}},
        {"model": "demo", "input": "a", "params": {"temperature": 3}},
        {"model": "demo", "input": "a", "params": {"stop": [""]}},
        {"model": "demo", "input": "a", "params": {"seed": 1}},  # unknown parameter
        {"model": "", "input": "a"},
    ],
)
def test_bad_bodies(body: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        parse_calls(body, 8)


def test_catalog_lists_and_checks_configured_models() -> None:
    none = Catalog(Settings())
    assert none.names() == ["demo"]
    with pytest.raises(BadRequest):
        none.check("openai/gpt-4o")
    some = Catalog(
        Settings(
            openai_base_url="http://localhost:11434/v1",
            anthropic_api_key="k",
            anthropic_models="claude-a, claude-b",
        )
    )
    assert some.names() == ["demo", "openai/*", "anthropic/claude-a", "anthropic/claude-b"]
    some.check("openai/llama3.2:1b")
    some.check("anthropic/claude-b")
    for bad in ("anthropic/claude-c", "openai/", "mistral/x", "Demo"):
        with pytest.raises(BadRequest):
            some.check(bad)


@pytest.mark.parametrize("role", [["user"], {"a": 1}, 3, None, True])
def test_a_message_role_that_is_not_a_string_is_a_400_not_a_500(role: Any) -> None:
    # `role not in ROLES` (a frozenset) raised TypeError for a list or an object: a 500 on
    # POST /v1/responses (found by fuzzing the edge against its OpenAPI document).
    with pytest.raises(BadRequest):
        parse_calls({"model": "demo", "messages": [{"role": role, "content": "x"}]}, 8)


# Request bodies built from the words the parsers look at, nested at random, so the generated
# bodies get past the first checks (a message whose tool_calls hold a list for a name, ...).
WORDS = ["model", "input", "messages", "params", "calls", "source", "role", "content",
         "tool_calls", "tool_call_id", "id", "type", "function", "name", "arguments", "user",
         "assistant", "tool", "system", "text", "response_format", "json_schema", "schema",
         "tools", "tool_choice", "parallel_tool_calls", "stop", "tokens", "max_tokens", "views",
         "moderation", "redact", "block", "sources", "title", "url", "cache", "pace",
         "conversation_id", "previous_response_id", "demo", "sentences", "json"]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.sampled_from(WORDS) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=3), inner, max_size=5),
    max_leaves=40,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(WORDS), JSON, max_size=8))
def test_any_body_is_calls_or_a_400(body: dict[str, Any]) -> None:
    """What the edge's POST checks before publishing: BadRequest (400) or a request, never
    another exception (a 500)."""
    try:
        calls = parse_calls(body, 8)
        app_views.parse(body, calls)
        cache.parse(body)
        conversation.named(body)
    except BadRequest:
        pass
