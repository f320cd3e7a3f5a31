"""Tool results in a call's messages (the agent loop's second request): the assistant's
`tool_calls` and the `tool` messages validated at the edge (calls.py, turns.py), and the
request bodies both upstreams get, byte for byte (OpenAI as they are, Anthropic translated)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agents.models import anthropic_messages, openai_chat
from app.contract.requests import Call
from app.errors import BadRequest
from app.request.calls import parse_calls

QUESTION = {"role": "user", "content": "Weather in Köln, and the time?"}
WEATHER_ARGS = '{"location":"Köln, DE","unit":"c"}'
WEATHER = {"id": "call_A", "type": "function",
           "function": {"name": "get_weather", "arguments": WEATHER_ARGS}}  # fmt: skip
# As a tool_call event carries them: parsed, which the edge encodes back into OpenAI's string.
TIME = {"id": "call_B", "type": "function",
        "function": {"name": "get_time", "arguments": {"timezone": "Europe/Berlin"}}}  # fmt: skip
ASKED = {"role": "assistant", "content": "Let me look.", "tool_calls": [WEATHER, TIME]}
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    QUESTION,
    ASKED,
    {"role": "tool", "tool_call_id": "call_B", "content": [{"type": "text", "text": "14:05"}]},
    {"role": "tool", "tool_call_id": "call_A", "content": "12 °C, rain"},
]


def call(messages: list[Any], model: str = "demo") -> Call:
    (parsed,) = parse_calls({"model": model, "messages": messages}, 4)
    return parsed


def test_openai_gets_the_tool_turns_as_they_are() -> None:
    body = orjson.dumps(openai_chat.request_body(call(CONVERSATION, "openai/gpt-4o")))
    expected = (
        r'{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},'
        r'{"role":"user","content":"Weather in Köln, and the time?"},'
        r'{"role":"assistant","content":"Let me look.","tool_calls":['
        r'{"id":"call_A","type":"function","function":{"name":"get_weather",'
        r'"arguments":"{\"location\":\"Köln, DE\",\"unit\":\"c\"}"}},'
        r'{"id":"call_B","type":"function","function":{"name":"get_time",'
        r'"arguments":"{\"timezone\":\"Europe/Berlin\"}"}}]},'
        r'{"role":"tool","tool_call_id":"call_B","content":[{"type":"text","text":"14:05"}]},'
        r'{"role":"tool","tool_call_id":"call_A","content":"12 °C, rain"}],'
        r'"stream":true,"stream_options":{"include_usage":true}}'
    )
    assert body == expected.encode()


def test_anthropic_gets_tool_use_blocks_and_one_user_message_of_tool_results() -> None:
    body = anthropic_messages.request_body(call(CONVERSATION, "anthropic/claude-x"), 512)
    expected = (
        r'{"model":"claude-x","max_tokens":512,"messages":['
        r'{"role":"user","content":"Weather in Köln, and the time?"},'
        r'{"role":"assistant","content":[{"type":"text","text":"Let me look."},'
        r'{"type":"tool_use","id":"call_A","name":"get_weather",'
        r'"input":{"location":"Köln, DE","unit":"c"}},'
        r'{"type":"tool_use","id":"call_B","name":"get_time",'
        r'"input":{"timezone":"Europe/Berlin"}}]},'
        r'{"role":"user","content":['
        r'{"type":"tool_result","tool_use_id":"call_B","content":[{"type":"text","text":"14:05"}]},'
        r'{"type":"tool_result","tool_use_id":"call_A","content":"12 °C, rain"}]}],'
        r'"stream":true,"system":"Be brief."}'
    )
    assert orjson.dumps(body) == expected.encode()


def test_anthropic_tool_only_turns_and_the_conversation_after_them() -> None:
    no_args = {"id": "toolu_1", "function": {"name": "now", "arguments": ""}}
    messages = [
        QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [no_args]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "14:05"},
        {"role": "assistant", "content": "", "tool_calls": [{**no_args, "id": "toolu_2"}]},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "14:06"},
        {"role": "user", "content": "And now?"},
    ]
    sent = anthropic_messages.request_body(call(messages, "anthropic/claude-x"), 512)["messages"]
    use = {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}
    assert sent == [
        QUESTION,
        {"role": "assistant", "content": [use]},  # no empty text block: Messages refuses those
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "14:05"}]},
        {"role": "assistant", "content": [{**use, "id": "toolu_2"}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "14:06"}]},
        {"role": "user", "content": "And now?"},  # Messages joins consecutive user turns
    ]  # fmt: skip


def test_tool_turns_are_normalised_and_read_back_by_the_worker_unchanged() -> None:
    parsed = call(CONVERSATION)
    time = parsed.messages[2]["tool_calls"][1]
    assert time["function"] == {"name": "get_time", "arguments": '{"timezone":"Europe/Berlin"}'}
    assert parse_calls({"calls": [parsed.to_dict()]}, 4) == [parsed]
    no_type = {"id": "c", "function": {"name": "f", "arguments": "{}"}}
    plain = call([QUESTION, {"role": "assistant", "content": "x", "tool_calls": None}])
    assert plain.messages[1] == {"role": "assistant", "content": "x"}
    asked = call([QUESTION, {"role": "assistant", "tool_calls": [no_type]},
                  {"role": "tool", "tool_call_id": "c", "content": "ok", "name": "f"}])  # fmt: skip
    assert asked.messages[1] == {"role": "assistant", "content": None,
                                 "tool_calls": [{**no_type, "type": "function"}]}  # fmt: skip
    assert asked.messages[2] == {"role": "tool", "tool_call_id": "c", "content": "ok"}


def test_the_demo_model_answers_the_last_user_message_after_tool_results() -> None:
    assert call(CONVERSATION).prompt == "Weather in Köln, and the time?"


def answered(*calls: dict[str, Any], results: list[Any] | None = None) -> list[Any]:
    asked = {"role": "assistant", "content": None, "tool_calls": list(calls)}
    ids = [c.get("id") for c in calls if isinstance(c, dict)]
    if results is None:
        results = [{"role": "tool", "tool_call_id": i, "content": "ok"} for i in ids]
    return [QUESTION, asked, *results]


def fn(arguments: Any = "{}", name: Any = "f", call_id: Any = "c") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def result(call_id: Any = "c", content: Any = "ok") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


BIG = '{"x":"' + "a" * 262_144 + '"}'


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([{"role": "function", "content": "x"}], "role in ['assistant', 'developer', "),
        ([{"role": "function", "content": "x"}], "not 'function'"),
        ([QUESTION, {"role": "tool", "content": "x"}], "tool_call_id must be the id"),
        ([QUESTION, result("")], "tool_call_id must be the id"),
        ([QUESTION, result("nope")], "messages[1].tool_call_id 'nope' answers no tool call"),
        (answered(fn(), results=[result(), result()]), "messages[3] answers tool call 'c' a se"),
        (answered(fn(call_id="c"), results=[result("d")]), "'d' answers no tool call"),
        (answered(fn(), results=[QUESTION, result()]), "messages[1].tool_calls: no tool message"),
        (answered(fn(), results=[]), "no tool message answers 'c'"),
        (answered(fn(), fn(call_id="d"), results=[result()]), "no tool message answers 'd'"),
        (answered(fn(), fn()), "an id of its own"),
        ([QUESTION, {"role": "assistant", "tool_calls": {}}], "list of 1 to 128"),
        ([QUESTION, {"role": "assistant", "tool_calls": []}], "list of 1 to 128"),
        (answered(*[fn(call_id=str(i)) for i in range(129)]), "list of 1 to 128"),
        (answered("call"), 'must be {"id", "type": "function"'),
        (answered({**fn(), "type": "code_interpreter"}), 'must be {"id", "type": "function"'),
        (answered(fn(call_id=None)), "tool_calls[0].id must be the call's id"),
        (answered(fn(call_id="c" * 257)), "tool_calls[0].id must be the call's id"),
        (answered({"id": "c", "type": "function"}), 'function must be {"name", "arguments"}'),
        (answered(fn(name="no spaces")), "function.name must be 1-64"),
        (answered(fn('{"location": "Kö')), 'must hold a JSON object, got \'{"location"'),
        (answered(fn("[1]")), "must hold a JSON object"),
        (answered(fn(5)), "arguments must be a JSON object, encoded as a string"),
        (answered(fn(BIG)), "at most 262144 bytes"),
        ([QUESTION, {"role": "assistant", "content": 5, "tool_calls": [fn()]}], "null, a string"),
        ([QUESTION, {"role": "assistant", "content": None}], "content must be a string"),
        ([{**QUESTION, "tool_calls": [fn()]}], "only assistant messages carry tool_calls"),
        ([{**QUESTION, "tool_call_id": "c"}], "only tool messages carry a tool_call_id"),
        (answered(fn(), results=[{**result(), "tool_calls": [fn()]}]), "carries no tool_calls"),
        (answered(fn(), results=[result(content=None)]), 'a list of {"type": "text"'),
        (answered(fn(), results=[result(content=[])]), 'a list of {"type": "text"'),
        (answered(fn(), results=[result(content=[{"type": "image_url"}])]), "a list of {"),
    ],
)
def test_bad_tool_turns_are_a_400(messages: list[Any], words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        call(messages)
    assert words in str(caught.value)
