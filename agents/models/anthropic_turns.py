"""A call's chat messages (OpenAI's shape, checked by calls.py and turns.py) in the Anthropic
Messages request's terms: system and developer messages become the top-level `system`; an
assistant's `tool_calls` become `tool_use` blocks after its text; the `tool` messages answering
them become one `user` message of `tool_result` blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.request.turns import arguments_object


def translate(chat: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The request's `messages`, and its `system` (None without one)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the tool_result blocks being gathered
    for m in chat:
        role = m["role"]
        if role == "tool":
            if results is None:  # the first answer of a turn; turns.py keeps them together
                results = []
                out.append({"role": "user", "content": results})
            results.append(_result(m))
            continue
        results = None
        if role in ("system", "developer"):
            system.append(_text(m["content"]))
        elif m.get("tool_calls"):
            uses = [_tool_use(c) for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": _blocks(m["content"]) + uses})
        else:
            out.append({"role": role, "content": m["content"]})
    return out, "\n\n".join(system) if system else None


def _result(message: Mapping[str, Any]) -> dict[str, Any]:
    # Text parts are already `{"type": "text", "text"}` only (turns.py), as tool_result wants.
    return {
        "type": "tool_result",
        "tool_use_id": message["tool_call_id"],
        "content": message["content"],
    }


def _tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call["function"]
    return {
        "type": "tool_use",
        "id": call["id"],
        "name": function["name"],
        "input": arguments_object(function["arguments"]),
    }


def _blocks(content: Any) -> list[Any]:
    # Messages refuses an empty text block; an assistant that only called tools has none.
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or ())


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p for p in content if isinstance(p, Mapping) and p.get("type") == "text"]
    return "".join(str(p.get("text", "")) for p in parts)
