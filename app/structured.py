"""Structured output: a call's `response_format` (OpenAI's shape), validated once, and the JSON
Schemas the `json` view validates each source's answer with.

The validated value goes into `Call.params["response_format"]`, where the upstream adapters read
it; the edge copies each call's schema into the `json` view's options (`views_options`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema_rs
import orjson

from app.errors import BadRequest

KEY = "response_format"
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for json_schema.name
# A schema rides in the request and in the `open` index record of the response (once per call),
# and the worker compiles it per response: big enough for real schemas, small for those records.
MAX_SCHEMA_BYTES = 32_768
MAX_DEPTH = 32
_JSON_SCHEMA_KEYS = frozenset({"name", "schema", "strict", "description"})


def response_format(raw: Any, where: str = "") -> dict[str, Any]:
    """`{"type": "text" | "json_object"}` or `{"type": "json_schema", "json_schema": {"name",
    "schema", "strict"?, "description"?}}`, checked. Raises BadRequest naming the defect."""
    field = f"{where}{KEY}"
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("text", "json_object"):
        if set(raw) != {"type"}:
            raise BadRequest(f"{field} of type {kind!r} takes no other fields")
        return {"type": kind}
    if kind != "json_schema":
        kinds = "text, json_object or json_schema"
        raise BadRequest(f"{field} must be an object whose type is {kinds}")
    if set(raw) != {"type", "json_schema"}:
        raise BadRequest(f"{field} of type 'json_schema' has 'type' and 'json_schema' only")
    spec = raw["json_schema"]
    if not isinstance(spec, dict) or set(spec) - _JSON_SCHEMA_KEYS:
        raise BadRequest(f"{field}.json_schema must be an object with {sorted(_JSON_SCHEMA_KEYS)}")
    name, schema = spec.get("name"), spec.get("schema")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest(f"{field}.json_schema.name must be 1-64 of A-Z a-z 0-9 _ -")
    if "strict" in spec and not isinstance(spec["strict"], bool):
        raise BadRequest(f"{field}.json_schema.strict must be true or false")
    if "description" in spec and not isinstance(spec["description"], str):
        raise BadRequest(f"{field}.json_schema.description must be a string")
    check_schema(schema, f"{field}.json_schema.schema")
    return {"type": kind, "json_schema": dict(spec)}


def check_schema(schema: Any, field: str) -> None:
    if not isinstance(schema, dict):
        raise BadRequest(f"{field} must be a JSON Schema object")
    if len(orjson.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise BadRequest(f"{field} is over {MAX_SCHEMA_BYTES} bytes")
    bad = _nonlocal_ref(schema, 0)
    if bad:
        raise BadRequest(f"{field}: {bad}")
    try:
        jsonschema_rs.meta.validate(schema)
        # Compiling finds what the meta-schema does not: refs to nowhere, bad patterns.
        jsonschema_rs.validator_for(schema, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc).split("\n", 1)[0]
        raise BadRequest(f"{field} is not a valid JSON Schema: {message[:300]}") from None


def _nonlocal_ref(node: Any, depth: int) -> str:
    """What is wrong with a nested or remote `$ref` (the worker never fetches), or ""."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
            return f"$ref {str(ref)[:100]!r} is not local (only '#/...' refs are allowed)"
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return ""
    for child in children:
        bad = _nonlocal_ref(child, depth + 1)
        if bad:
            return bad
    return ""


def lifted(raw: Mapping[str, Any], where: str) -> Any:
    """A call's `params`, with a `response_format` given beside them (OpenAI's place for it)
    moved in, to be checked with the others."""
    params = raw.get("params")
    if KEY not in raw or (params is not None and not isinstance(params, dict)):
        return params
    if params and KEY in params:
        raise BadRequest(f"give {where}{KEY} or {where}params.{KEY}, not both")
    return {**(params or {}), KEY: raw[KEY]}


def schema_of(params: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """Whether a call asked for JSON, and its schema (None: any JSON)."""
    fmt = params.get(KEY) or {}
    if fmt.get("type") == "json_schema":
        return True, fmt["json_schema"]["schema"]
    return fmt.get("type") == "json_object", None


def view_options(calls: Iterable[Any]) -> dict[str, dict[str, Any] | None]:
    """The `json` view's options: source -> schema (or None) of each call that asked for JSON."""
    out: dict[str, dict[str, Any] | None] = {}
    for call in calls:
        wants, schema = schema_of(call.params)
        if wants:
            out[call.source] = schema
    return out
