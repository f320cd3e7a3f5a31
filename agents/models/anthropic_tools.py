"""OpenAI-shaped `tools`, `tool_choice`, `parallel_tool_calls` and `response_format` (what a
call's params hold, app/request/tools.py) in the Anthropic Messages request's own terms.

Messages has no structured-output field, so a `response_format` goes "through tool input": one
more tool named after the schema, whose `input_schema` is the schema, with `tool_choice`
forcing it. MessageStream turns that tool's input JSON back into the answer's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.request.tools import JSON_OBJECT_TOOL

FORMAT_DESCRIPTION = "Give your whole answer as this tool's input."
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def tool_fields(params: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The request fields (`tools`, `tool_choice`) for `params`, and the name of the tool that
    carries `response_format` (None without one)."""
    tools = [_tool(t["function"]) for t in params.get("tools") or ()]
    choice = _choice(params.get("tool_choice"))
    format_tool = _format_tool(params.get("response_format"))
    if format_tool is not None:
        tools.append(format_tool)
        if len(tools) == 1 or choice == {"type": "none"}:
            choice = {"type": "tool", "name": format_tool["name"]}
        elif choice is None or choice["type"] in ("auto", "any"):
            # With tools of its own the answer is either a call of one of them or the
            # formatted answer, as with OpenAI: some tool must be called.
            choice = {"type": "any"}
    if not tools:
        return {}, None
    if params.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    fields: dict[str, Any] = {"tools": tools}
    if choice is not None:
        fields["tool_choice"] = choice
    return fields, None if format_tool is None else str(format_tool["name"])


def _tool(function: Mapping[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        tool["description"] = function["description"]
    tool["input_schema"] = function.get("parameters") or NO_PARAMETERS
    return tool


def _choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, str):  # auto, none
        return {"type": choice}
    return {"type": "tool", "name": choice["function"]["name"]}


def _format_tool(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {
            "name": JSON_OBJECT_TOOL,
            "description": FORMAT_DESCRIPTION,
            "input_schema": {"type": "object"},
        }
    if kind != "json_schema":
        return None  # `text`: nothing to ask for
    spec = response_format.get("json_schema") or {}
    return {
        "name": spec.get("name") or JSON_OBJECT_TOOL,
        "description": spec.get("description") or FORMAT_DESCRIPTION,
        "input_schema": spec.get("schema") or {"type": "object"},
    }
