"""Tool calls as upstreams stream them: an id and a name first, then the arguments' JSON in
fragments cut anywhere. `Assembly` gathers them per index and parses each once it is complete.

Shared by openai_chat (`delta.tool_calls[]`, legacy `function_call`) and anthropic_messages
(`tool_use` blocks and their `input_json_delta`s).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.models.base import ToolCall

log = logging.getLogger(__name__)


class _Partial:
    __slots__ = ("call_id", "name", "parts")

    def __init__(self) -> None:
        self.call_id = ""
        self.name = ""
        self.parts: list[str] = []


class Assembly:
    """The tool calls of one answer being streamed, by the upstream's index."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def __contains__(self, index: int) -> bool:
        return index in self._calls

    def add(self, index: int, call_id: Any = None, name: Any = None, fragment: Any = None) -> None:
        """One delta of the call at `index`. The first id and name win: some servers repeat
        them on every chunk, and a name is never sent in pieces."""
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Partial()
        if not call.call_id and isinstance(call_id, str):
            call.call_id = call_id
        if not call.name and isinstance(name, str):
            call.name = name
        if isinstance(fragment, str) and fragment:
            call.parts.append(fragment)

    def finish(self, index: int) -> ToolCall | None:
        """The complete call at `index` (an Anthropic block's stop), or None if there is none."""
        call = self._calls.pop(index, None)
        return None if call is None else _complete(index, call)

    def finish_all(self) -> list[ToolCall]:
        """Every call gathered so far, in index order (parallel calls at a finish_reason)."""
        calls, self._calls = self._calls, {}
        return [_complete(index, calls[index]) for index in sorted(calls)]


def _complete(index: int, call: _Partial) -> ToolCall:
    # Servers that omit ids (some OpenAI-compatible ones) still get a stable, distinct one.
    call_id = call.call_id or f"call_{index}"
    return ToolCall(call_id, call.name, parse_arguments("".join(call.parts), call.name, call_id))


def parse_arguments(raw: str, name: str, call_id: str) -> Any:
    """The arguments as JSON; empty means none (`{}`). Arguments that are not JSON (a model
    cut off by max_tokens, a server that streams something else) are passed on as the raw
    string rather than dropped: the caller sees what the model wrote and can tell by its type."""
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        log.warning(
            "tool call %s (%s): arguments are not JSON (%s); passed on as a string",
            call_id, name, exc,
        )  # fmt: skip
        return raw
