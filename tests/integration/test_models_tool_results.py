"""The agent loop closed end to end: a response's `tool_call` events, read over SSE, go back in
the client's next request as an assistant message with `tool_calls` and `tool` messages with
the results; the fake OpenAI and Anthropic servers receive them in their own shapes.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes import wire
from tests.fakes.upstream import FakeUpstream

from .sse import SseEvent, delta_text
from .test_models_tool_calls import TIME, WEATHER, answer

pytestmark = pytest.mark.integration

TOOLS = {"tools": [WEATHER, TIME]}
RESULTS = {"get_weather": "12 °C, rain", "get_time": "14:05"}


def next_turn(prompt: str, events: list[SseEvent], encode: bool) -> list[dict[str, Any]]:
    """The conversation so far as a client builds it from the stream: `arguments` re-encoded as
    OpenAI's string (`encode`) or sent back parsed, as the event carries them."""
    calls = [e.data for e in events if e.type == "tool_call"]
    tool_calls = [
        {
            "id": c["call_id"],
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": json.dumps(c["arguments"]) if encode else c["arguments"],
            },
        }
        for c in calls
    ]
    results = [
        {"role": "tool", "tool_call_id": c["call_id"], "content": RESULTS[c["name"]]} for c in calls
    ]
    assistant = {"role": "assistant", "content": delta_text(events), "tool_calls": tool_calls}
    return [{"role": "user", "content": prompt}, assistant, *results]


def received(fake: FakeUpstream, path: str, scenario: str) -> dict[str, Any]:
    (seen,) = fake.find(lambda s: s.path == path and s.scenario == scenario)
    return seen.body


async def test_openai_receives_the_tool_results_as_they_were_sent(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    prompt = "openai loop"
    first = await answer(client, {"model": "openai/tools", "input": prompt, "params": TOOLS})
    messages = next_turn(prompt, first, encode=True)
    assert len(messages) == 4  # the question, the two parallel calls, their two results
    second = await answer(client, {"model": "openai/loop", "messages": messages, "params": TOOLS})
    assert delta_text(second) == wire.TEXT
    assert received(fake, "/v1/chat/completions", "loop")["messages"] == messages


async def test_anthropic_receives_tool_use_and_tool_result_blocks(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    prompt = "anthropic loop"
    first = await answer(client, {"model": "anthropic/tools", "input": prompt, "params": TOOLS})
    (call,) = [e.data for e in first if e.type == "tool_call"]
    messages = next_turn(prompt, first, encode=False)
    second = await answer(
        client, {"model": "anthropic/loop", "messages": messages, "params": TOOLS}
    )
    assert delta_text(second) == wire.TEXT
    body = received(fake, "/v1/messages", "loop")
    assert body["messages"] == [
        {"role": "user", "content": prompt},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": delta_text(first)},
                {"type": "tool_use", "id": call["call_id"], "name": "get_weather",
                 "input": call["arguments"]},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call["call_id"],
                         "content": "12 °C, rain"}],
        },
    ]  # fmt: skip
    assert [t["name"] for t in body["tools"]] == ["get_weather", "get_time"]


async def test_the_demo_model_answers_after_tool_results(client: httpx.AsyncClient) -> None:
    asked = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": ""}}
    messages = [
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": None, "tool_calls": [asked]},
        {"role": "tool", "tool_call_id": "call_1", "content": "14:05"},
    ]
    events = await answer(client, {"model": "demo", "messages": messages, "params": {"tokens": 5}})
    assert delta_text(events)


async def test_a_tool_result_that_answers_no_call_is_a_400(client: httpx.AsyncClient) -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "call_nope", "content": "14:05"},
    ]
    resp = await client.post("/v1/responses", content=orjson.dumps(
        {"model": "openai/loop", "messages": messages}))  # fmt: skip
    assert resp.status_code == 400, resp.text
    assert "messages[1].tool_call_id 'call_nope' answers no tool call" in resp.text
