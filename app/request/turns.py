"""Tool turns in a call's messages, OpenAI's shape: an assistant message's `tool_calls` and the
`tool` messages answering them, validated for the edge (a 400 naming the defect, never an
upstream's 400 mid-stream). The adapters translate them (anthropic_turns.py); demo ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from app.errors import BadRequest
from app.request.tools import NAME

MAX_TOOL_CALLS = 128  # per assistant message, as many as a call may have tools
MAX_ID = 256  # the upstream's ids: `call_…`, `toolu_…`, vLLM's `chatcmpl-tool-<32 hex>`
MAX_ARGUMENTS_BYTES = 256 * 1024  # one call's; the whole body is capped by EDGE_MAX_BODY
SHAPE = '{"id", "type": "function", "function": {"name", "arguments"}}'


def message(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A `tool` message or an assistant message with `tool_calls`, checked and normalised."""
    role = raw["role"]
    if role == "tool":
        return _result(raw, where)
    if role != "assistant" or raw.get("tool_call_id") is not None:
        raise BadRequest(f"{where}: only assistant messages carry tool_calls, and only tool "
                         "messages a tool_call_id")  # fmt: skip
    content = raw.get("content")
    if content is not None and not isinstance(content, str) and not _parts(content):
        raise BadRequest(f"{where}.content must be null, a string or a list of content parts")
    calls = raw["tool_calls"]
    if not isinstance(calls, list) or not 0 < len(calls) <= MAX_TOOL_CALLS:
        raise BadRequest(f"{where}.tool_calls must be a list of 1 to {MAX_TOOL_CALLS} {SHAPE}")
    checked = [_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)]
    if len({c["id"] for c in checked}) != len(checked):
        raise BadRequest(f"{where}.tool_calls: each call needs an id of its own")
    return {"role": "assistant", "content": content, "tool_calls": checked}


def check_answers(messages: Sequence[Mapping[str, Any]], where: str) -> None:
    """Every tool call is answered once, by tool messages right after the assistant message that
    made it, before any other message: both vendors refuse anything else."""
    asked: dict[str, bool] = {}  # the last assistant message's call ids -> answered yet
    asked_at = -1
    for i, m in enumerate(messages):
        if m["role"] == "tool":
            call_id = m["tool_call_id"]
            if call_id not in asked:
                raise BadRequest(f"{where}[{i}].tool_call_id {call_id!r:.80} answers no tool "
                                 "call of the assistant message just before it")  # fmt: skip
            if asked[call_id]:
                raise BadRequest(f"{where}[{i}] answers tool call {call_id!r:.80} a second time")
            asked[call_id] = True
            continue
        _all_answered(asked, f"{where}[{asked_at}]")
        asked = {c["id"]: False for c in m.get("tool_calls") or ()}
        asked_at = i
    _all_answered(asked, f"{where}[{asked_at}]")


def arguments_object(arguments: str) -> dict[str, Any]:
    """A checked call's arguments as the object they hold (`{}` for none)."""
    if not arguments.strip():
        return {}
    parsed: dict[str, Any] = orjson.loads(arguments)  # a dict: the callers check
    return parsed


def _all_answered(asked: Mapping[str, bool], where: str) -> None:
    missing = [call_id for call_id, answered in asked.items() if not answered]
    if missing:
        raise BadRequest(f"{where}.tool_calls: no tool message answers {missing[0]!r:.80} (each "
                         "call needs one, right after this message)")  # fmt: skip


def _result(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = raw.get("tool_call_id")
    if not isinstance(call_id, str) or not 0 < len(call_id) <= MAX_ID:
        raise BadRequest(f"{where}.tool_call_id must be the id of the tool call it answers "
                         f"(1-{MAX_ID} characters)")  # fmt: skip
    if raw.get("tool_calls") is not None:
        raise BadRequest(f"{where}: a tool message carries no tool_calls")
    content = raw.get("content")
    if isinstance(content, list) and content and all(_text_part(p) for p in content):
        content = [{"type": "text", "text": p["text"]} for p in content]
    elif not isinstance(content, str):
        raise BadRequest(f'{where}.content must be a string or a list of {{"type": "text", '
                         '"text": "..."}} parts')  # fmt: skip
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _call(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type", "function") != "function":
        raise BadRequest(f"{where} must be {SHAPE}")
    call_id = raw.get("id")
    if not isinstance(call_id, str) or not 0 < len(call_id) <= MAX_ID:
        raise BadRequest(f"{where}.id must be the call's id from its tool_call event (1-{MAX_ID} "
                         "characters)")  # fmt: skip
    function = raw.get("function")
    if not isinstance(function, dict):
        raise BadRequest(f'{where}.function must be {{"name", "arguments"}}')
    name = function.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest(f"{where}.function.name must be 1-64 of A-Z a-z 0-9 _ -")
    arguments = _arguments(function.get("arguments"), f"{where}.function.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _arguments(value: Any, field: str) -> str:
    if isinstance(value, dict):  # as a tool_call event carries them: back to OpenAI's string
        value = orjson.dumps(value).decode()
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a JSON object, encoded as a string")
    if len(value.encode()) > MAX_ARGUMENTS_BYTES:
        raise BadRequest(f"{field}: at most {MAX_ARGUMENTS_BYTES} bytes")
    try:
        parsed = arguments_object(value)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):  # Anthropic's `input` must be an object
        raise BadRequest(f"{field} must hold a JSON object, got {value[:60]!r}")
    return value


def _parts(content: Any) -> bool:
    return isinstance(content, list) and all(isinstance(p, dict) for p in content)


def _text_part(part: Any) -> bool:
    is_text = isinstance(part, dict) and part.get("type") == "text"
    return is_text and isinstance(part.get("text"), str)
