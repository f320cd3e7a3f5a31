"""Tool calls and citations end to end: a worker calling the fake OpenAI and Anthropic servers
(tests/fakes/wire_tools.py, byte-exact), their `tool_call` and `citation` events through Kafka
to an SSE reader among the deltas, and the tools / response_format the upstream received.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes import wire_tools
from tests.fakes.upstream import FakeUpstream

from .sse import SseEvent, assert_contiguous, create, delta_text, read_all, read_events

pytestmark = pytest.mark.integration

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather at a place.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


async def answer(client: httpx.AsyncClient, body: dict[str, Any]) -> list[SseEvent]:
    rid = await create(client, body)
    for _ in range(50):  # the edge's 410 race for just-finished responses (test_models_upstreams)
        probe = await read_events(client, rid, limit=0, timeout_s=10)
        if probe.status not in (404, 410):
            break
    got = await read_all(client, rid, timeout_s=30)
    assert_contiguous(got.events)
    assert [e.type for e in got.events[-2:]] == ["source.done", "done"]
    return got.events


def received(fake: FakeUpstream, prompt: str) -> dict[str, Any]:
    (seen,) = fake.find(lambda s: s.prompt == prompt)
    return seen.body


async def test_openai_parallel_tool_calls_arrive_with_the_text(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    prompt = "openai tools"
    params = {"tools": [WEATHER, TIME], "tool_choice": "auto", "parallel_tool_calls": True}
    events = await answer(client, {"model": "openai/tools", "input": prompt, "params": params})
    assert delta_text(events) == wire_tools.TOOL_TEXT
    calls = [e.data for e in events if e.type == "tool_call"]
    assert [(c["call_id"], c["name"], c["arguments"], c["source"]) for c in calls] == [
        ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", {"location": "Köln, DE", "unit": "c"},
         "answer"),
        ("call_8GiV2bVqsBNv4ThHd7gP0xQs", "get_time", {"timezone": "Europe/Berlin"}, "answer"),
    ]  # fmt: skip
    types = [e.type for e in events]
    assert types.index("tool_call") > max(i for i, t in enumerate(types) if t == "delta")
    body = received(fake, prompt)
    assert body["tools"] == [WEATHER, TIME]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("auto", True)


async def test_anthropic_tool_use_arrives_and_the_tools_were_translated(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    prompt = "anthropic tools"
    params = {"tools": [WEATHER], "tool_choice": "required", "parallel_tool_calls": False}
    events = await answer(client, {"model": "anthropic/tools", "input": prompt, "params": params})
    assert delta_text(events) == wire_tools.TOOL_TEXT
    (call,) = [e.data for e in events if e.type == "tool_call"]
    assert (call["call_id"], call["name"], call["arguments"]) == (
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "get_weather",
        {"location": "Köln, DE", "unit": "c"},
    )
    body = received(fake, prompt)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather at a place.",
            "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


async def test_anthropic_citations_arrive_after_their_text(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    events = await answer(client, {"model": "anthropic/cite", "input": "anthropic cite"})
    assert delta_text(events) == "".join(t for t, _ in wire_tools.CITED_BLOCKS)
    refs = [e.data["ref"] for e in events if e.type == "citation"]
    assert refs == [wire_tools.CITATION, wire_tools.CITATION, wire_tools.PAGE_CITATION]
    first = next(i for i, e in enumerate(events) if e.type == "citation")
    assert delta_text(events[:first]).endswith("157 Meter hoch")


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "height_m": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city", "height_m", "tags"],
}


async def test_anthropic_response_format_goes_through_a_forced_tool_and_comes_back_as_text(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    prompt = "anthropic format"
    response_format = {"type": "json_schema", "json_schema": {"name": "landmark", "schema": SCHEMA}}
    body = {
        "model": "anthropic/format",
        "input": prompt,
        "params": {"response_format": response_format},
    }
    events = await answer(client, body)
    assert delta_text(events) == wire_tools.LANDMARK
    assert not any(e.type == "tool_call" for e in events)
    sent = received(fake, prompt)
    assert sent["tools"] == [
        {
            "name": "landmark",
            "description": "Give your whole answer as this tool's input.",
            "input_schema": SCHEMA,
        }
    ]
    assert sent["tool_choice"] == {"type": "tool", "name": "landmark"}


async def test_bad_tools_are_a_400(client: httpx.AsyncClient) -> None:
    bad = {"tools": [{"type": "function", "function": {"name": "no spaces"}}]}
    resp = await client.post(
        "/v1/responses", json={"model": "openai/tools", "input": "x", "params": bad}
    )
    assert resp.status_code == 400, resp.text
    assert "name must be 1-64" in resp.text


async def test_a_models_citations_pass_through_its_views(
    client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    body = {"model": "anthropic/cite", "input": "anthropic cite",
            "views": ["citations", "sentences"], "sources": [{"id": "doc"}]}  # fmt: skip
    events = await answer(client, body)
    rid = events[0].data["rid"]
    refs = [e.data["ref"] for e in events if e.type == "citation"]
    assert refs
    for view in ("citations", "sentences"):
        got = await read_all(client, rid, view=view, wait_known_s=10)
        assert_contiguous(got.events)
        assert [e.data["ref"] for e in got.events if e.type == "citation"] == refs, view
