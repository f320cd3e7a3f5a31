"""Tool parameters: validated at the edge (app/request/tools.py through parse_calls) and
translated into the Anthropic Messages request (agents/models/anthropic_tools.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models.anthropic_messages import request_body
from app.contract.requests import Call
from app.errors import BadRequest
from app.request import tools
from app.request.calls import parse_calls

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather at a place.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
NOW = {"type": "function", "function": {"name": "now"}}


def params(**given: Any) -> dict[str, Any]:
    (call,) = parse_calls({"model": "demo", "input": "hi", "params": given}, 4)
    return dict(call.params)


def test_valid_tool_params_pass() -> None:
    got = params(tools=[WEATHER, NOW], tool_choice="required", parallel_tool_calls=True)
    assert got == {"tools": [WEATHER, NOW], "tool_choice": "required", "parallel_tool_calls": True}
    choice = {"type": "function", "function": {"name": "now"}}
    assert params(tools=[NOW], tool_choice=choice)["tool_choice"] == choice


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"tools": []}, "1 to 128 tools"),
        ({"tools": [NOW] * 129}, "1 to 128 tools"),
        ({"tools": {"now": NOW}}, "must be a list"),
        ({"tools": [{"type": "code_interpreter"}]}, '"type": "function"'),
        ({"tools": [{"type": "function"}]}, "function must be an object"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "name must be 1-64"),
        ({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "name must be 1-64"),
        ({"tools": [NOW, NOW]}, "a name of its own"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "JSON Schema of an object",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "description": 3}}]},
            "description must be a string",
        ),
        ({"tool_choice": "auto"}, "tool_choice needs params.tools"),
        ({"tools": [NOW], "tool_choice": "always"}, 'must be "auto"'),
        (
            {"tools": [NOW], "tool_choice": {"type": "function", "function": {"name": "then"}}},
            "names no tool",
        ),
        ({"tools": [NOW], "parallel_tool_calls": "yes"}, "true or false"),
        ({"parallel_tool_calls": False}, "needs params.tools"),
        (
            {
                "tools": [NOW],
                "response_format": {"type": "json_schema", "json_schema": {"name": "now"}},
            },
            "also a tool's name",
        ),
    ],
)
def test_bad_tool_params_are_a_400(given: dict[str, Any], words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        _ = params(**given) if "response_format" not in given else _check(given)
    assert words in str(caught.value)


def _check(given: dict[str, Any]) -> dict[str, Any]:
    # response_format is app/structured.py's to validate; the name clash is checked here.
    return tools.check(dict(given), "")


def anthropic(**given: Any) -> dict[str, Any]:
    call = Call("answer", "anthropic/claude-x", ({"role": "user", "content": "hi"},), given)
    return request_body(call, 512)


def test_anthropic_gets_its_own_tool_shape() -> None:
    body = anthropic(tools=[WEATHER, NOW])
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather at a place.",
            "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "now"}}, None, {"type": "tool", "name": "now"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
    ],
)
def test_anthropic_tool_choice(choice: Any, parallel: bool | None, expected: Any) -> None:
    given: dict[str, Any] = {"tools": [NOW]}
    if choice is not None:
        given["tool_choice"] = choice
    if parallel is not None:
        given["parallel_tool_calls"] = parallel
    assert anthropic(**given)["tool_choice"] == expected


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}
FORMAT = {"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA}}
FORMAT_TOOL = {
    "name": "count",
    "description": "Give your whole answer as this tool's input.",
    "input_schema": SCHEMA,
}


def test_anthropic_response_format_is_a_forced_tool() -> None:
    body = anthropic(response_format=FORMAT)
    assert body["tools"] == [FORMAT_TOOL]
    assert body["tool_choice"] == {"type": "tool", "name": "count"}
    plain = anthropic(response_format={"type": "json_object"})
    assert plain["tools"][0]["name"] == "json_answer"
    assert plain["tool_choice"] == {"type": "tool", "name": "json_answer"}
    assert "tools" not in anthropic(response_format={"type": "text"})


def test_anthropic_response_format_beside_tools_of_its_own_means_any_tool() -> None:
    body = anthropic(tools=[NOW], response_format=FORMAT)
    assert [t["name"] for t in body["tools"]] == ["now", "count"]
    assert body["tool_choice"] == {"type": "any"}
    forced = anthropic(tools=[NOW], tool_choice="none", response_format=FORMAT)
    assert forced["tool_choice"] == {"type": "tool", "name": "count"}
