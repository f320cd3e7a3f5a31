"""Structured output requests: `response_format` validated at the edge (a 400 for a bad one),
carried in the call's params and into the json view's options; the demo model's documents are
valid instances of the schema."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.models.demo import DemoModel
from agents.models.demo_json import document, tokens
from app import structured, views
from app.errors import BadRequest
from app.request.calls import parse_calls

ITEM = {"type": "object", "properties": {"sku": {"type": "string", "maxLength": 8},
                                         "qty": {"type": "integer", "minimum": 1}},
        "required": ["sku", "qty"], "additionalProperties": False}  # fmt: skip
ORDER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"enum": ["new", "paid", "shipped"]},
        "total": {"type": "number", "minimum": 0, "exclusiveMaximum": 500},
        "rush": {"type": "boolean"},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2,
                  "maxItems": 3},
        "note": {"type": ["string", "null"], "minLength": 5, "maxLength": 12},
        "customer": {"type": "object", "properties": {"email": {"type": "string",
                     "format": "email"}, "tier": {"type": "integer", "maximum": -3}}},
    },
    "required": ["id", "status", "lines"],
    "$defs": {"item": ITEM},
}  # fmt: skip
FORMAT = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER, "strict": True}}


def call_body(**extra: Any) -> dict[str, Any]:
    return {"model": "demo", "input": "Order two lamps.", **extra}


def test_the_format_goes_into_the_calls_params_and_the_view_options() -> None:
    (call,) = parse_calls(call_body(response_format=FORMAT), 8)
    assert call.params["response_format"] == FORMAT
    again = parse_calls({"calls": [call.to_dict()]}, 8)  # the worker reads it back
    assert again[0].params == call.params
    body = {"calls": [{"source": "a", "model": "demo", "input": "x", "response_format": FORMAT},
                      {"source": "b", "model": "demo", "input": "y",
                       "params": {"response_format": {"type": "json_object"}}},
                      {"source": "c", "model": "demo", "input": "z"}],
            "views": ["json"]}  # fmt: skip
    calls = parse_calls(body, 8)
    assert views.parse(body, calls) == (("json",), {"json": {"a": ORDER, "b": None}})
    assert views.parse({**body, "views": ["plain"]}, calls)[1] == {}


@pytest.mark.parametrize(
    ("fmt", "words"),
    [
        ("json", "must be an object whose type"),
        ({"type": "yaml"}, "must be an object whose type"),
        ({"type": "json_object", "schema": {}}, "takes no other fields"),
        ({"type": "json_schema"}, "has 'type' and 'json_schema' only"),
        ({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}, "name must be"),
        ({"type": "json_schema", "json_schema": {"name": "n"}}, "must be a JSON Schema object"),
        ({"type": "json_schema", "json_schema": {"name": "n", "schema": {}, "strict": 1}},
         "strict must be"),
        ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "nope"}}},
         "not a valid JSON Schema"),
        ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"$ref": "#/$defs/x"}}},
         "not a valid JSON Schema"),
        ({"type": "json_schema",
          "json_schema": {"name": "n", "schema": {"$ref": "https://example.com/s.json"}}},
         "is not local"),
        ({"type": "json_schema", "json_schema": {"name": "n", "schema": {
            "properties": {f"p{i}": {"description": "x" * 100} for i in range(400)}}}},
         "over 32768 bytes"),
    ],
)  # fmt: skip
def test_a_bad_response_format_is_a_400(fmt: Any, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_calls(call_body(response_format=fmt), 8)
    assert words in str(caught.value)
    with pytest.raises(BadRequest):
        parse_calls(call_body(params={"response_format": fmt}), 8)


def test_a_format_in_both_places_is_a_400() -> None:
    with pytest.raises(BadRequest, match="not both"):
        parse_calls(call_body(response_format=FORMAT, params={"response_format": FORMAT}), 8)


@pytest.mark.parametrize("prompt", ["Order two lamps.", "", "ünïcode 🚀 prompt", "x" * 500])
def test_the_demo_document_is_a_valid_instance(prompt: str) -> None:
    doc = document(ORDER, prompt)
    assert jsonschema_rs.validator_for(ORDER).is_valid(doc), doc
    assert document(ORDER, prompt) == doc  # the same prompt, the same answer
    pieces = tokens(doc)
    assert len(pieces) > 20 and max(len(p) for p in pieces) <= 6
    assert not any(p[0].isalnum() and p[-1] in '{}[],:"' for p in pieces)  # punctuation apart


async def test_the_demo_model_streams_the_document_whole() -> None:
    (call,) = parse_calls(call_body(response_format=FORMAT, params={"tokens": 3, "rate": 0}), 8)
    text = "".join([p async for p in DemoModel(10, 0, 0).stream(call) if isinstance(p, str)])
    assert text == "".join(tokens(document(ORDER, call.prompt)))
    (free,) = parse_calls(call_body(params={"response_format": {"type": "json_object"}}), 8)
    got = "".join([p async for p in DemoModel(10, 0, 0).stream(free) if isinstance(p, str)])
    assert got.startswith("{") and got.endswith("}")


_SCALARS = st.sampled_from([
    {"type": "string"}, {"type": "string", "minLength": 3, "maxLength": 5},
    {"type": "integer", "minimum": -5, "maximum": 5}, {"type": "number", "maximum": 0.5},
    {"type": "boolean"}, {"enum": ["a", 1, None]}, {"type": "null"}, {"const": "k"},
    {"type": "string", "format": "date-time"},
])  # fmt: skip


def _schemas() -> st.SearchStrategy[dict[str, Any]]:
    def grow(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        props = st.dictionaries(st.text("abcxyz_", min_size=1, max_size=4), inner, max_size=4)
        obj = props.flatmap(lambda p: st.builds(
            lambda req: {"type": "object", "properties": p, "required": req},
            st.lists(st.sampled_from(sorted(p)), unique=True) if p else st.just([])))  # fmt: skip
        arr = st.builds(lambda items, low, extra: {"type": "array", "items": items,
                        "minItems": low, "maxItems": low + extra},
                        inner, st.integers(0, 3), st.integers(0, 2))  # fmt: skip
        return obj | arr

    return st.recursive(_SCALARS, grow, max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(_schemas(), st.text(max_size=20))
def test_demo_documents_validate_for_any_schema_shape(schema: dict[str, Any], prompt: str) -> None:
    structured.check_schema(schema, "schema")
    doc = document(schema, prompt)
    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(doc)]
    assert not errors, (schema, doc)
