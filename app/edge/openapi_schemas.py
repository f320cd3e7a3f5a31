"""The JSON Schemas of the OpenAPI document (openapi.py): request bodies, JSON answers, the error
body and the data of every SSE event. Limits come from the modules that enforce them, so the
document cannot drift from the checks; response bodies are closed (`additionalProperties: false`)
so a field added to an answer fails the conformance test until it is documented here.
"""

from __future__ import annotations

from typing import Any

from app import cache, conversation, errors, events, sources, structured, views
from app.request import calls, tools, turns
from app.settings import Settings

Schema = dict[str, Any]
REF = "#/components/schemas/"
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
RESPONSE_STATUSES = ["in_progress", events.DONE, events.ERROR, events.CANCELLED]
# The SSE `event:` of a conversation stream's turn announcement (app/edge/conversations.py).
TURN_EVENT = "response"


def ref(name: str) -> Schema:
    return {"$ref": REF + name}


def closed(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}  # fmt: skip


def schemas(settings: Settings) -> dict[str, Schema]:
    """components.schemas of the document."""
    return {
        "Error": closed(["error"], error=closed(["code", "message"], code=STRING, message=STRING)),
        "CreateResponse": _create(settings),
        "Call": _call(),
        "Message": _message(),
        "Params": _params(),
        "ResponseFormat": _response_format(),
        "Created": closed(
            ["id", "events_url", "status"],
            id=STRING,
            events_url=STRING,
            status={"const": "in_progress"},
            cached=BOOLEAN,
            cached_from=STRING,
            conversation_id=STRING,
            turn={"type": "integer", "minimum": 1},
            context=closed(
                ["turns", "dropped_turns", "messages", "chars"],
                turns=INTEGER,
                dropped_turns=INTEGER,
                messages=INTEGER,
                chars=INTEGER,
            ),
            # With API keys on (docs/security.md): a token that reads this response only, and for
            # a conversation's turn one that reads the conversation; when each expires.
            read_token=STRING,
            read_token_expires_ms=INTEGER,
            conversation_token=STRING,
            conversation_token_expires_ms=INTEGER,
        ),  # fmt: skip
        "ReadTokenRequest": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {"response_id": STRING, "conversation_id": STRING},
            "additionalProperties": False,
        },
        "ReadToken": {
            "oneOf": [
                closed(["read_token", "read_token_expires_ms"], read_token=STRING,
                       read_token_expires_ms=INTEGER),
                closed(["conversation_token", "conversation_token_expires_ms"],
                       conversation_token=STRING, conversation_token_expires_ms=INTEGER),
            ]
        },  # fmt: skip
        "Snapshot": closed(
            ["id", "status", "last_seq", "sources"],
            id=STRING,
            status={"enum": RESPONSE_STATUSES},
            last_seq=INTEGER,
            sources={"type": "object", "additionalProperties": STRING},
            moderated_url=STRING,
            cached={"const": True},
            cached_from=STRING,
        ),  # fmt: skip
        "Cancelled": closed(
            ["id", "status", "cancelled"],
            id=STRING,
            status={"enum": ["cancelling", *RESPONSE_STATUSES[1:]]},
            cancelled=BOOLEAN,
        ),  # fmt: skip
        "Conversation": closed(
            ["id", "turns"], id=STRING, turns={"type": "array", "items": ref("Turn")}
        ),
        "Turn": closed(
            ["id", "turn", "created", "input", "status", "output"],
            id=STRING,
            turn=INTEGER,
            created=NUMBER,
            input=STRING,
            status={"enum": RESPONSE_STATUSES},
            output={"type": ["string", "null"]},
            events_url=STRING,
        ),  # fmt: skip
        "TurnStarted": closed(
            ["rid", "turn", "prompt", "created"],
            rid=STRING,
            turn=INTEGER,
            prompt=STRING,
            created=NUMBER,
            moderated_url=STRING,
        ),  # fmt: skip
        "Event": _event(),
        "Models": closed(["models"], models={"type": "array", "items": STRING}),
        "Health": closed(["live"], live=BOOLEAN),
        "Stats": closed(
            ["window_minutes", "from", "models", "total"],
            window_minutes=INTEGER,
            **{"from": STRING},
            models={
                "type": "object",
                "additionalProperties": closed(
                    ["total", "minutes"],
                    total=ref("Aggregate"),
                    minutes={
                        "type": "array",
                        "items": {
                            "allOf": [
                                {
                                    "type": "object",
                                    "required": ["minute"],
                                    "properties": {"minute": STRING},
                                },
                                ref("Aggregate"),
                            ]
                        },
                    },
                ),
            },
            total=ref("Aggregate"),
        ),  # fmt: skip
        "Aggregate": {
            "type": "object",
            "required": [
                "responses",
                "errors",
                "cancels",
                "ttft_ms",
                "input_tokens",
                "output_tokens",
                "tokens_per_s",
            ],
            "properties": {
                "responses": INTEGER,
                "cancels": INTEGER,
                "input_tokens": INTEGER,
                "output_tokens": INTEGER,
                "tokens_per_s": {"type": ["number", "null"]},
                "errors": {"type": "object", "additionalProperties": INTEGER},
                "ttft_ms": closed(
                    ["count", "p50", "p95"],
                    count=INTEGER,
                    p50={"type": ["number", "null"]},
                    p95={"type": ["number", "null"]},
                ),
            },
        },  # fmt: skip
    }


def _create(settings: Settings) -> Schema:
    single = {"required": ["model"], "not": {"required": ["calls"]}}
    many = {
        "required": ["calls"],
        "not": {"anyOf": [{"required": [k]} for k in ("model", "input", "messages")]},
    }
    call = _call()["properties"]
    return {
        "type": "object",
        "description": "One model call (`model` with `input` or `messages`), or several in "
                       "`calls`. Unknown top-level fields are ignored.",
        "anyOf": [single, many],
        "properties": {
            "model": call["model"], "input": call["input"], "messages": call["messages"],
            "params": call["params"], "response_format": call["response_format"],
            "calls": {"type": "array", "minItems": 1, "maxItems": settings.generation_max_calls,
                      "items": ref("Call"),
                      "description": "Parallel model calls, each its own `source`."},
            "views": {"type": "array", "items": {"enum": list(views.names())},
                      "description": "Streams derived from the raw one (docs/views.md)."},
            "moderation": {**closed([], **{k: {
                "type": "array", "maxItems": views.MAX_RULES,
                "items": {"type": "string", "minLength": 1, "maxLength": views.MAX_RULE_CHARS,
                          "format": "regex"}} for k in ("redact", "block")}),
                "description": "The `moderated` view's own rules: Python regexes."},
            "sources": {"type": "array", "maxItems": sources.MAX_SOURCES, "items": closed(
                ["id"], id={"anyOf": [{"type": "integer"}, {"type": "string",
                            "pattern": f"^[{sources.ID_CHARS}]{{1,{sources.MAX_ID_CHARS}}}$"}]},
                title={"type": "string", "maxLength": sources.MAX_TITLE_CHARS},
                url={"type": "string", "maxLength": sources.MAX_URL_CHARS}),
                "description": "What the `citations` view cites (docs/views.md)."},
            "cache": {"anyOf": [BOOLEAN, closed([], pace={"enum": list(cache.PACES)})],
                      "description": "Answer from a stored identical request (docs/cache.md)."},
            "conversation_id": {"type": "string", "pattern": f"^{conversation.ID.pattern}$",
                                "description": "Continue (or start) this conversation."},
            "previous_response_id": {"type": "string", "minLength": 1,
                                     "maxLength": conversation.MAX_RESPONSE_ID,
                                     "description": "Continue from this response's turn."},
        },
    }  # fmt: skip


def _call() -> Schema:
    return {
        "type": "object",
        "required": ["source", "model"],
        "properties": {
            "source": {"type": "string", "pattern": f"^{calls.SOURCE.pattern}$",
                       "description": "The label of this call's events (`answer` for one call)."},
            "model": {"type": "string", "minLength": 1, "examples": ["demo"],
                      "description": "A name from GET /v1/models."},
            "input": {"type": "string", "description": "The user message (or give `messages`)."},
            "messages": {"type": "array", "minItems": 1, "maxItems": calls.MAX_MESSAGES,
                         "items": ref("Message"), "description": "Chat turns, OpenAI's shape."},
            "params": ref("Params"),
            "response_format": ref("ResponseFormat"),
        },
    }  # fmt: skip


def _message() -> Schema:
    parts = {"type": "array", "items": {"type": "object"}}
    return {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"enum": sorted(calls.ROLES)},
            "content": {"anyOf": [STRING, parts, {"type": "null"}]},
            "tool_calls": {"type": "array", "minItems": 1, "maxItems": turns.MAX_TOOL_CALLS,
                           "items": {"type": "object"}, "description": turns.SHAPE},
            "tool_call_id": {"type": "string", "minLength": 1, "maxLength": turns.MAX_ID},
        },
    }  # fmt: skip


def _params() -> Schema:
    numeric = {
        name: {"type": "integer" if integral else "number", "minimum": low, "maximum": high}
        for name, (low, high, integral) in calls.PARAMS.items()
    }
    stop = {"type": "array", "minItems": 1, "maxItems": calls.MAX_STOP,
            "items": {"type": "string", "minLength": 1}}  # fmt: skip
    return {
        "type": "object",
        "description": "Model parameters; `tokens`, `rate`, `first_token_ms` are the demo "
                       "model's. Unknown names are refused.",
        "additionalProperties": False,
        "properties": {
            **numeric,
            "stop": {"anyOf": [{"type": "string", "minLength": 1}, stop]},
            structured.KEY: ref("ResponseFormat"),
            "tools": {"type": "array", "minItems": 1, "maxItems": tools.MAX_TOOLS,
                      "items": {"type": "object", "required": ["type", "function"]}},
            "tool_choice": {"anyOf": [{"enum": list(tools.CHOICES)}, {"type": "object"}]},
            "parallel_tool_calls": BOOLEAN,
        },
    }  # fmt: skip


def _response_format() -> Schema:
    return {
        "type": "object",
        "required": ["type"],
        "description": "Structured output, OpenAI's shape (docs/views.md, `json`).",
        "properties": {
            "type": {"enum": ["text", "json_object", "json_schema"]},
            "json_schema": {"type": "object", "required": ["name", "schema"], "properties": {
                "name": {"type": "string", "pattern": f"^{structured.NAME.pattern}$"},
                "schema": {"type": "object"}, "strict": BOOLEAN, "description": STRING}},
        },
    }  # fmt: skip


def _terminal_code() -> Schema:
    # Not an enum: a later version may add codes, and clients should not refuse the event.
    codes = ", ".join(f"`{c}`" for c in sorted(errors.terminal_codes()))
    return {"type": "string", "description": f"`error`: why it ended, one of {codes}"}


def _event() -> Schema:
    """An event's data: open to fields added later (clients ignore what they do not know)."""
    return {
        "type": "object",
        "required": ["rid", "source", "seq", "type", "ts"],
        "properties": {
            "rid": STRING, "source": STRING, "seq": {"type": "integer", "minimum": 1},
            "type": {"enum": sorted(events.ALL_TYPES)}, "ts": NUMBER, "text": STRING,
            "retriable": BOOLEAN, "code": _terminal_code(), "message": STRING, "status": INTEGER,
            "raw_seq": INTEGER, "path": STRING, "value": {}, "ref": {"type": "object"},
            "call_id": STRING, "name": STRING, "arguments": {}, "model": STRING,
            "usage": {"type": "object"}, "first_token_ms": NUMBER, "duration_ms": NUMBER,
        },
    }  # fmt: skip
