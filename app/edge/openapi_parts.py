"""Building blocks of the OpenAPI document's operations (openapi_paths.py, openapi_service.py):
an operation, error answers, the access errors of guarded operations, SSE answers, parameters
and curl examples.
"""

from __future__ import annotations

from typing import Any

from app import events
from app.edge import openapi_schemas as schemas

Doc = dict[str, Any]
Security = list[dict[str, list[str]]]
API_KEY, READ_TOKEN, READ_TOKEN_QUERY = "apiKey", "readToken", "readTokenQuery"
WRITE: Security = [{API_KEY: []}]
READ: Security = [{API_KEY: []}, {READ_TOKEN: []}, {READ_TOKEN_QUERY: []}]
PUBLIC: Security = []
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
# Kafka or storage cannot be reached: every operation that reads or writes them may answer it.
UNAVAILABLE = "Kafka or storage cannot be reached right now (retriable)."
MAX_CURSOR = 10**18 - 1  # sse.parse_cursor takes 1-18 decimal digits
VECTOR = r"^[^,]+:[0-9]+(,[^,]+:[0-9]+)*$"  # RID:N,... (multiplex.vector)


def error(description: str, *codes: str, headers: Doc | None = None) -> Doc:
    """An error answer whose `code` is one of `codes`."""
    body = {"allOf": [schemas.ref("Error"), {"properties": {"error": {"properties": {
        "code": {"enum": list(codes)}}}}}]}  # fmt: skip
    out: Doc = {"description": description, "content": {"application/json": {"schema": body}}}
    if headers:
        out["headers"] = headers
    return out


def codes_of(response: Doc) -> list[str]:
    """The error codes an error answer built by `error` names."""
    body = response.get("content", {}).get("application/json", {}).get("schema", {})
    try:
        return list(body["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"])
    except (KeyError, IndexError):
        return []


def guarded(responses: Doc, security: Security, *, stream: bool = False) -> Doc:
    """`responses` with the access errors an operation under `security` answers: 401 and 403
    always, 429 for a stream (open streams per key) or a POST that starts a response."""
    if not security:
        return responses
    out = dict(responses)
    out["401"] = error("No credentials, or unknown, revoked or expired ones.", "unauthorized")
    own = codes_of(out["403"]) if "403" in out else []
    what = "The credentials do not cover this operation or this response."
    if own:
        what += " " + out["403"]["description"]
    out["403"] = error(what, "forbidden", *own)
    if stream:
        out["429"] = error("Too many open streams for these credentials.",
                           "too_many_connections", headers=RETRY_AFTER)  # fmt: skip
    elif "201" in out:
        out["429"] = error("Too many responses in flight for this API key.",
                           "too_many_responses", headers=RETRY_AFTER)  # fmt: skip
    return dict(sorted(out.items()))


def op(
    op_id: str, summary: str, description: str, responses: Doc, security: Security, *,
    parameters: list[Doc] | None = None, body: Doc | None = None, stream: bool = False,
    example: list[Doc] | None = None,
) -> Doc:  # fmt: skip
    out: Doc = {"operationId": op_id, "summary": summary, "description": description,
                "security": security,
                "responses": guarded(responses, security, stream=stream)}  # fmt: skip
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    if example:
        out["x-codeSamples"] = example
    return out


def json_answer(description: str, schema: str) -> Doc:
    return {"description": description,
            "content": {"application/json": {"schema": schemas.ref(schema)}}}  # fmt: skip


def sse_answer(description: str, id_pattern: str, *items: Doc) -> Doc:
    """A text/event-stream answer. Its schema describes each event (OpenAPI 3.1's reading of a
    sequential media type): `event`, `id` and `data`, the data a JSON document."""
    frames = [
        {"type": "object", "required": ["event", "data", "id"], "properties": {
            "event": item["event"], "id": {"type": "string", "pattern": id_pattern},
            "data": {"type": "string", "contentMediaType": "application/json",
                     "contentSchema": item["data"]}}}
        for item in items
    ]  # fmt: skip
    schema = frames[0] if len(frames) == 1 else {"anyOf": frames}
    return {
        "description": description,
        "headers": {"Cache-Control": {"schema": {"const": "no-cache"}}},
        "content": {"text/event-stream": {"schema": schema}},
    }


def event_item() -> Doc:
    """A raw or view event: `event:` its type, `data:` the Event object."""
    return {"event": {"enum": sorted(events.ALL_TYPES)}, "data": schemas.ref("Event")}


def path_param(name: str, description: str, schema: Doc | None = None) -> Doc:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


def query(name: str, description: str, schema: Doc, required: bool = False) -> Doc:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}  # fmt: skip


def last_event_id(description: str) -> Doc:
    return {"name": "Last-Event-ID", "in": "header", "required": False,
            "description": description, "schema": {"type": "string"}}  # fmt: skip


def cursor_params(what: str) -> list[Doc]:
    after = {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR}
    return [
        query("after", f"Resume after this seq of {what} (0: from the start).", after),
        last_event_id("Resume position as EventSource sends it back; wins over `after`."),
    ]


def curl(*lines: str) -> list[Doc]:
    return [{"lang": "shell", "label": "curl", "source": "\n".join(lines)}]
