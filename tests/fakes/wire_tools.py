"""Byte-exact streamed tool calls and citations, as the real services send them (wire.py has the
plain text answers): OpenAI's `delta.tool_calls[]` (the first chunk of a call with `id`, `type`
and `function.name`, then `function.arguments` fragments) and legacy `function_call`;
Anthropic's `tool_use` blocks with `input_json_delta`s and text blocks with `citations_delta`.
"""

from __future__ import annotations

from typing import Any

from tests.fakes import wire

# (id, name, arguments as the model writes them)
WEATHER_CALLS = [
    ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", '{"location": "Köln, DE", "unit": "c"}'),
    ("call_8GiV2bVqsBNv4ThHd7gP0xQs", "get_time", '{"timezone":"Europe/Berlin"}'),
]
TOOL_TEXT = "Let me check both."


def cut(text: str, size: int) -> list[str]:
    """Fragments as a model streams JSON: anywhere, mid-token, mid-string."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _delta(model: str, delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return wire._chunk(model, [choice])


def openai_tool_calls(
    model: str,
    calls: list[tuple[str, str, str]] = WEATHER_CALLS,
    text: str = "",
    size: int = 5,
    interleave: bool = False,
    finish: str = "tool_calls",
) -> list[bytes]:
    """An answer with `text` (if any) and then parallel tool calls, each call's arguments in
    `size`-character fragments; `interleave` alternates the calls' fragments chunk by chunk."""
    out = [wire.openai_role(model)]
    out += [wire.openai_text(model, t) for t in wire.pieces(text)] if text else []
    firsts, rests = [], []
    for index, (call_id, name, arguments) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function"}
        firsts.append({**head, "function": {"name": name, "arguments": ""}})
        rests.append([{"index": index, "function": {"arguments": a}} for a in cut(arguments, size)])
    if interleave:
        out += [_delta(model, {"tool_calls": [first]}) for first in firsts]
        longest = max(len(r) for r in rests)
        for i in range(longest):
            for rest in rests:
                if i < len(rest):
                    out.append(_delta(model, {"tool_calls": [rest[i]]}))
    else:
        for first, rest in zip(firsts, rests, strict=True):
            out.append(_delta(model, {"tool_calls": [first]}))
            out += [_delta(model, {"tool_calls": [r]}) for r in rest]
    out += [_delta(model, {}, finish), wire.openai_usage(model), wire.OPENAI_DONE]
    return out


def openai_function_call(model: str, name: str, arguments: str, size: int = 4) -> list[bytes]:
    """The legacy `functions` answer: one call, no id, finish_reason `function_call`."""
    first = {"role": "assistant", "content": None, "function_call": {"name": name, "arguments": ""}}
    out = [_delta(model, first)]
    out += [_delta(model, {"function_call": {"arguments": a}}) for a in cut(arguments, size)]
    return [*out, _delta(model, {}, "function_call"), wire.openai_usage(model), wire.OPENAI_DONE]


# ---- Anthropic ---------------------------------------------------------------------------


def _event(name: str, obj: object) -> bytes:
    return f"event: {name}\ndata: {wire._json(obj)}\n\n".encode()


def tool_use_start(index: int, tool_id: str, name: str) -> bytes:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    obj = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", obj)


def input_json(index: int, partial: str) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": partial}
    return _event(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def anthropic_tool_use(
    model: str, text: str, tools: list[tuple[str, str, str]], size: int = 3
) -> list[bytes]:
    """Text in block 0 (none when `text` is empty: a forced tool_choice), then a tool_use block
    per call; each input's JSON cut every `size` characters after the empty first fragment
    Anthropic always sends."""
    out = [wire.anthropic_start(model)]
    if text:
        out += [wire.anthropic_block_start(), wire.ANTHROPIC_PING]
        out += [wire.anthropic_text(t) for t in wire.pieces(text)]
        out.append(wire.anthropic_block_stop())
    for index, (tool_id, name, arguments) in enumerate(tools, start=1 if text else 0):
        out += [tool_use_start(index, tool_id, name), input_json(index, "")]
        out += [input_json(index, part) for part in cut(arguments, size) if part]
        out.append(wire.anthropic_block_stop(index))
    return [*out, wire.anthropic_message_delta("tool_use", 89), wire.ANTHROPIC_STOP]


CITATION = {
    "type": "char_location",
    "cited_text": "Der Kölner Dom ist 157 Meter hoch. ",
    "document_index": 0,
    "document_title": "Kölner Dom",
    "start_char_index": 0,
    "end_char_index": 35,
    "file_id": None,
}
PAGE_CITATION = {
    "type": "page_location",
    "cited_text": "Baubeginn 1248, Vollendung 1880.",
    "document_index": 1,
    "document_title": "Chronik",
    "start_page_number": 2,
    "end_page_number": 3,
}
# (text of the block, its citations): uncited, cited once, uncited, cited twice
CITED_BLOCKS: list[tuple[str, list[dict[str, object]]]] = [
    ("Laut dem Dokument ", []),
    ("ist der Dom 157 Meter hoch", [CITATION]),
    (" und wurde ", []),
    ("von 1248 bis 1880 gebaut", [CITATION, PAGE_CITATION]),
    (".", []),
]


def anthropic_cited(
    model: str, blocks: list[tuple[str, list[dict[str, object]]]] = CITED_BLOCKS
) -> list[bytes]:
    """An answer citing documents: a cited passage is a text block of its own, started with
    `citations: []`, its citations_delta events before its text (as the API sends them)."""
    out = [wire.anthropic_start(model)]
    for index, (text, citations) in enumerate(blocks):
        block: dict[str, object] = {"type": "text", "text": ""}
        if citations:
            block = {"citations": [], "type": "text", "text": ""}
        start = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(_event("content_block_start", start))
        for citation in citations:
            delta = {"type": "citations_delta", "citation": citation}
            out.append(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        out += [wire.anthropic_text(t, index) for t in wire.pieces(text)]
        out.append(wire.anthropic_block_stop(index))
    return [*out, wire.anthropic_message_delta(), wire.ANTHROPIC_STOP]


# ---- whole answers the fake server (upstream.py) gives by scenario ---------------------------

LANDMARK = '{"city": "Köln", "height_m": 157, "tags": ["Dom", "gotisch"]}'


def canned(path: str, scenario: str, body: dict[str, Any]) -> list[bytes] | None:
    """The answer of scenario `tools`, `cite` or `format` (the latter answers through the tool
    the request forces, as Anthropic does for a response_format); None for the others."""
    if path == "/v1/chat/completions" and scenario == "tools":
        return openai_tool_calls("gpt-4o-mini-2024-07-18", text=TOOL_TEXT, size=3, interleave=True)
    model = "claude-sonnet-4-5-20250929"
    if path != "/v1/messages":
        return None
    if scenario == "tools":
        tools = [("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", WEATHER_CALLS[0][2])]
        return anthropic_tool_use(model, TOOL_TEXT, tools, size=2)
    if scenario == "cite":
        return anthropic_cited(model)
    if scenario == "format":
        forced = (body.get("tool_choice") or {}).get("name", "missing_tool_choice")
        return anthropic_tool_use(model, "", [("toolu_01Xy", forced, LANDMARK)], size=4)
    return None
