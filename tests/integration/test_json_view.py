"""The json view on real processes: a demo response with a JSON Schema streams a valid document,
and `?view=json` gives each of its fields as a `json` event, checked, resumable like any view."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest

from .procs import Edge, Stack
from .sse import assert_contiguous, client_for, create, delta_text, read_all, read_events

pytestmark = pytest.mark.integration

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 10},
        "status": {"enum": ["draft", "final"]},
        "pages": {"type": "integer", "minimum": 1, "maximum": 40},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "public": {"type": "boolean"},
        "sections": {"type": "array", "items": {"$ref": "#/$defs/section"}, "minItems": 3,
                     "maxItems": 5},
        "owner": {"type": "object", "properties": {"name": {"type": "string"}},
                  "required": ["name"]},
    },
    "required": ["title", "status", "pages", "score", "public", "sections", "owner"],
    "additionalProperties": False,
    "$defs": {"section": {"type": "object", "required": ["heading", "words"],
                          "properties": {"heading": {"type": "string"},
                                         "words": {"type": "integer", "minimum": 0}}}},
}  # fmt: skip
FORMAT = {"type": "json_schema", "json_schema": {"name": "report", "schema": SCHEMA}}


def demo(rate: float = 400, **extra: object) -> dict[str, object]:
    body = {"model": "demo", "input": "Summarise the consumer groups design.",
            "params": {"rate": rate}, "response_format": FORMAT, "views": ["json"]}  # fmt: skip
    return {**body, **extra}


async def test_every_field_arrives_checked_and_equal_to_the_raw_document(
    shared: tuple[Stack, Edge],
) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        rid = await create(client, demo())
        raw = await read_all(client, rid, wait_known_s=10)
        view = await read_all(client, rid, view="json", wait_known_s=10)
    doc = json.loads(delta_text(raw.events))
    assert jsonschema_rs.validator_for(SCHEMA).is_valid(doc)
    assert_contiguous(view.events)
    assert [e for e in view.events if e.type == "json.invalid"] == []
    fields = {e.data["path"]: e.data["value"] for e in view.events if e.type == "json"}
    assert {p: v for p, v in fields.items() if p.count("/") == 1} == {
        f"/{k}": v for k, v in doc.items()
    }
    for i, section in enumerate(doc["sections"]):
        assert fields[f"/sections/{i}"] == section
    last = view.events[-1]
    assert last.type == "done" and last.data["raw_seq"] == raw.events[-1].seq
    # each field comes out at the raw event that closed it, not at the end
    first = next(e for e in view.events if e.type == "json")
    assert first.data["raw_seq"] < raw.events[-1].seq - 20


async def test_the_json_view_resumes_from_last_event_id(shared: tuple[Stack, Edge]) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        rid = await create(client, demo(rate=150))
        first = await read_events(client, rid, view="json", limit=2)
        assert first.status == 200 and first.seqs == [1, 2], first.body
        rest = await read_all(client, rid, view="json", last_event_id=2)
        again = await read_events(client, rid, view="json", last_event_id=rest.seqs[-1])
        whole = await read_all(client, rid, view="json")
    assert_contiguous(first.events + rest.events)
    assert [e.data for e in first.events + rest.events] == [e.data for e in whole.events]
    assert again.status == 204


async def test_a_bad_response_format_is_a_400(shared: tuple[Stack, Edge]) -> None:
    _, edge = shared
    bad_schema = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": 3}}}
    async with client_for(edge.url) as client:
        bad = await client.post("/v1/responses", json=demo(response_format=bad_schema))
        kind = await client.post("/v1/responses", json=demo(response_format={"type": "xml"}))
    for resp in (bad, kind):
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_request"
    assert "not a valid JSON Schema" in bad.json()["error"]["message"]
