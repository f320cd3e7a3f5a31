"""A call's tool parameters, validated for the edge (a 400, never a 500) in OpenAI's shape:
`tools` (function tools), `tool_choice` and `parallel_tool_calls`. The adapters pass them on
(OpenAI as they are, Anthropic translated: anthropic_tools.py); the demo model ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from app.errors import BadRequest

PARAMS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})
MAX_TOOLS = 128  # OpenAI's limit
# All of a call's tools, encoded: the request travels as one Kafka record (1 MiB by default).
MAX_TOOLS_BYTES = 256 * 1024
MAX_DESCRIPTION = 4096
# Both vendors' rule for a tool's name (and OpenAI's for a json_schema's name).
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHOICES = ("auto", "none", "required")
# The tool Anthropic gets for `{"type": "json_object"}` (no schema, no name of its own:
# agents/models/anthropic_tools.py); a tool of the caller's may not take its name.
JSON_OBJECT_TOOL = "json_answer"


def check(params: dict[str, Any], where: str) -> dict[str, Any]:
    """`params` (a call's, other parameters already checked) with its tool parameters
    validated and normalised; raises BadRequest naming the first defect."""
    if not PARAMS & params.keys():
        return params
    tools = params.get("tools")
    names: list[str] = []
    if tools is not None:
        params["tools"] = [_tool(t, f"{where}params.tools[{i}]") for i, t in _items(tools, where)]
        names = [t["function"]["name"] for t in params["tools"]]
        if len(set(names)) != len(names):
            raise BadRequest(f"{where}params.tools: each tool needs a name of its own")
        if len(orjson.dumps(params["tools"])) > MAX_TOOLS_BYTES:
            raise BadRequest(f"{where}params.tools: at most {MAX_TOOLS_BYTES} bytes of JSON")
    if "tool_choice" in params:
        params["tool_choice"] = _choice(params["tool_choice"], names, where)
    if "parallel_tool_calls" in params:
        if type(params["parallel_tool_calls"]) is not bool:
            raise BadRequest(f"{where}params.parallel_tool_calls must be true or false")
        if not names:
            raise BadRequest(f"{where}params.parallel_tool_calls needs params.tools")
    _format_name(params.get("response_format"), names, where)
    return params


def _items(tools: Any, where: str) -> list[tuple[int, Any]]:
    if not isinstance(tools, list) or not tools or len(tools) > MAX_TOOLS:
        raise BadRequest(f"{where}params.tools must be a list of 1 to {MAX_TOOLS} tools")
    return list(enumerate(tools))


def _tool(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type") != "function":
        raise BadRequest(f'{where} must be {{"type": "function", "function": {{...}}}}')
    function = raw.get("function")
    if not isinstance(function, dict):
        raise BadRequest(f"{where}.function must be an object")
    name = function.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest(f"{where}.function.name must be 1-64 of A-Z a-z 0-9 _ -")
    out: dict[str, Any] = {"name": name}
    description = function.get("description")
    if description is not None:
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise BadRequest(f"{where}.function.description must be a string of at most "
                             f"{MAX_DESCRIPTION} characters")  # fmt: skip
        out["description"] = description
    parameters = function.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise BadRequest(f"{where}.function.parameters must be a JSON Schema of an object")
        out["parameters"] = parameters
    strict = function.get("strict")
    if strict is not None:
        if type(strict) is not bool:
            raise BadRequest(f"{where}.function.strict must be true or false")
        out["strict"] = strict
    return {"type": "function", "function": out}


def _choice(choice: Any, names: list[str], where: str) -> Any:
    if not names:
        raise BadRequest(f"{where}params.tool_choice needs params.tools")
    if choice in CHOICES:
        return choice
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(choice, dict) or choice.get("type") != "function" or name is None:
        raise BadRequest(
            f'{where}params.tool_choice must be "auto", "none", "required" or '
            '{"type": "function", "function": {"name": ...}}'
        )
    if name not in names:
        raise BadRequest(f"{where}params.tool_choice names no tool in params.tools: {name!r:.80}")
    return {"type": "function", "function": {"name": name}}


def _format_name(response_format: Any, names: list[str], where: str) -> None:
    # Anthropic gets a response_format as one more tool of the schema's name (anthropic_tools).
    if not isinstance(response_format, Mapping) or not names:
        return
    spec = response_format.get("json_schema")
    name = spec.get("name") if isinstance(spec, Mapping) else None
    if (
        response_format.get("type") in ("json_object", "json_schema")
        and (name or JSON_OBJECT_TOOL) in names
    ):
        raise BadRequest(f"{where}params.response_format: the schema's name is also a tool's name")
