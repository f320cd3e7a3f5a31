"""Tool calls and citations through the upstream adapters: recorded wire bytes (tests/fakes/
wire_tools.py) fed through httpx's MockTransport in 1-byte and odd-sized network reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

from agents.models.anthropic_messages import AnthropicMessages
from agents.models.base import Citation, Item, ToolCall
from agents.models.openai_chat import OpenAIChat
from app.contract.requests import Call
from app.usage import Usage
from tests.fakes import wire, wire_tools

SSE = {"content-type": "text/event-stream; charset=utf-8"}
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
Handler = Callable[[httpx.Request], httpx.Response]


def streamed(events: list[bytes], size: int = 1, seen: list[Any] | None = None) -> Handler:
    data = b"".join(events)

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(orjson.loads(request.content))
        return httpx.Response(200, headers=SSE, content=body())

    return handler


async def run(model: str, handler: Handler, **params: Any) -> list[Item]:
    call = Call("answer", model, ({"role": "user", "content": "Wetter?"},), params)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        if model.startswith("openai/"):
            adapter: OpenAIChat | AnthropicMessages = OpenAIChat(client, "http://up/v1", "k")
        else:
            adapter = AnthropicMessages(client, "http://up", "k", 512)
        # the call's Usage comes last: test_usage.py checks it
        return [item async for item in adapter.stream(call) if type(item) is not Usage]


def text_of(items: list[Item]) -> str:
    return "".join(i for i in items if type(i) is str)


def structured(items: list[Item]) -> list[Item]:
    return [i for i in items if type(i) is not str]


EXPECTED_CALLS = [
    ToolCall("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", {"location": "Köln, DE", "unit": "c"}),
    ToolCall("call_8GiV2bVqsBNv4ThHd7gP0xQs", "get_time", {"timezone": "Europe/Berlin"}),
]


@pytest.mark.parametrize("size", [1, 7, 100_000])
@pytest.mark.parametrize("interleave", [False, True])
async def test_openai_parallel_tool_calls_split_across_chunks(size: int, interleave: bool) -> None:
    events = wire_tools.openai_tool_calls(OPENAI_MODEL, size=3, interleave=interleave)
    items = await run("openai/m", streamed(events, size))
    assert structured(items) == EXPECTED_CALLS
    assert text_of(items) == ""
    assert items[-2:] == EXPECTED_CALLS, "emitted whole at the finish_reason, in index order"


async def test_openai_tool_calls_alongside_text() -> None:
    events = wire_tools.openai_tool_calls(OPENAI_MODEL, text=wire_tools.TOOL_TEXT, finish="stop")
    items = await run("openai/m", streamed(events, 5))
    assert text_of(items) == wire_tools.TOOL_TEXT
    assert structured(items) == EXPECTED_CALLS
    first_call = items.index(EXPECTED_CALLS[0])
    assert text_of(items[:first_call]) == wire_tools.TOOL_TEXT, "text first, calls after it"


async def test_openai_tool_calls_without_finish_reason_are_emitted_at_done() -> None:
    events = [e for e in wire_tools.openai_tool_calls(OPENAI_MODEL) if b'"tool_calls"}' not in e]
    items = await run("openai/m", streamed(events, 64))
    assert structured(items) == EXPECTED_CALLS


async def test_openai_legacy_function_call() -> None:
    events = wire_tools.openai_function_call(OPENAI_MODEL, "get_weather", '{"location":"Bonn"}')
    items = await run("openai/m", streamed(events, 3))
    assert structured(items) == [ToolCall("function_call", "get_weather", {"location": "Bonn"})]


async def test_openai_arguments_that_are_not_json_pass_on_as_the_raw_string() -> None:
    calls = [("call_1", "f", '{"a": 1, "b": "cut off by max_tok')]
    events = wire_tools.openai_tool_calls(OPENAI_MODEL, calls, finish="length")
    items = await run("openai/m", streamed(events, 64))
    assert structured(items) == [ToolCall("call_1", "f", '{"a": 1, "b": "cut off by max_tok')]


async def test_openai_call_without_arguments_or_id() -> None:
    events = wire_tools.openai_tool_calls(OPENAI_MODEL, [("", "now", "")])
    items = await run("openai/m", streamed(events, 64))
    assert structured(items) == [ToolCall("call_0", "now", {})]


async def test_tool_argument_fragments_count_as_output_for_the_timers() -> None:
    events = wire_tools.openai_tool_calls(OPENAI_MODEL, size=3)
    items = await run("openai/m", streamed(events, 64))
    fragments = sum(len(wire_tools.cut(a, 3)) + 1 for _, _, a in wire_tools.WEATHER_CALLS)
    assert items.count("") == fragments  # one per chunk with a tool-call delta


@pytest.mark.parametrize("size", [1, 5, 100_000])
async def test_anthropic_tool_use_with_input_split_mid_token(size: int) -> None:
    tools = [("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"location": "Köln, DE"}')]
    tools.append(("toolu_01A09q90qw90lq917835lq9", "get_time", ""))  # no input: {}
    events = wire_tools.anthropic_tool_use(ANTHROPIC_MODEL, wire_tools.TOOL_TEXT, tools, size=2)
    items = await run("anthropic/m", streamed(events, size))
    assert text_of(items) == wire_tools.TOOL_TEXT
    assert structured(items) == [
        ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", {"location": "Köln, DE"}),
        ToolCall("toolu_01A09q90qw90lq917835lq9", "get_time", {}),
    ]


@pytest.mark.parametrize("size", [1, 9, 100_000])
async def test_anthropic_citations_follow_the_text_they_belong_to(size: int) -> None:
    events = wire_tools.anthropic_cited(ANTHROPIC_MODEL)
    items = await run("anthropic/m", streamed(events, size))
    # Rebuild the answer as (text so far, citation) pairs: each citation right after its block.
    got: list[tuple[str, dict[str, Any]]] = []
    text = ""
    for item in items:
        if type(item) is str:
            text += item
        else:
            assert type(item) is Citation
            got.append((text, item.ref))
    blocks = wire_tools.CITED_BLOCKS
    assert text == "".join(t for t, _ in blocks)
    assert got == [
        ("Laut dem Dokument ist der Dom 157 Meter hoch", wire_tools.CITATION),
        ("Laut dem Dokument ist der Dom 157 Meter hoch und wurde von 1248 bis 1880 gebaut",
         wire_tools.CITATION),
        ("Laut dem Dokument ist der Dom 157 Meter hoch und wurde von 1248 bis 1880 gebaut",
         wire_tools.PAGE_CITATION),
    ]  # fmt: skip


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "height_m": {"type": "integer"}},
    "required": ["city", "height_m"],
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "landmark", "schema": SCHEMA, "strict": True},
}


async def test_anthropic_response_format_through_tool_input_is_text() -> None:
    document = '{"city": "Köln", "height_m": 157}'
    tools = [("toolu_01Xy", "landmark", document)]
    seen: list[Any] = []
    events = wire_tools.anthropic_tool_use(ANTHROPIC_MODEL, "", tools, size=4)
    items = await run("anthropic/m", streamed(events, 3, seen), response_format=RESPONSE_FORMAT)
    assert structured(items) == [], "the format tool's input is the answer, not a tool call"
    assert text_of(items) == document
    (body,) = seen
    assert body["tools"] == [
        {
            "name": "landmark",
            "description": "Give your whole answer as this tool's input.",
            "input_schema": SCHEMA,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "landmark"}


async def test_openai_request_passes_tools_and_response_format_as_they_are() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    seen: list[Any] = []
    events = wire.openai_stream(OPENAI_MODEL, ["{}"])
    await run(
        "openai/m",
        streamed(events, 64, seen),
        tools=tools,
        tool_choice="required",
        parallel_tool_calls=False,
        response_format=RESPONSE_FORMAT,
    )
    (body,) = seen
    assert body["tools"] == tools
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert body["response_format"] == RESPONSE_FORMAT
