"""The OpenAPI document's paths beside the responses' (openapi_paths.py): conversations, and the
service's own (models, stats, health, metrics, this document, the demo page and its files).
"""

from __future__ import annotations

from app.edge.openapi_parts import (
    PUBLIC,
    READ,
    UNAVAILABLE,
    WRITE,
    Doc,
    curl,
    error,
    event_item,
    json_answer,
    last_event_id,
    op,
    path_param,
    query,
    sse_answer,
)
from app.edge.openapi_schemas import TURN_EVENT, ref
from app.settings import Settings


def conversations() -> Doc:
    cid = path_param("cid", "A conversation id, as POSTs named it.",
                     {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,128}$"})  # fmt: skip
    turn = {"event": {"const": TURN_EVENT}, "data": ref("TurnStarted")}
    position = r"^[0-9]+;([^,]+:[0-9]+(,[^,]+:[0-9]+)*)?$"
    return {
        "/v1/conversations/{cid}": {
            "get": op(
                "getConversation",
                "A conversation's turns",
                "Stored turns from the database, turns in flight from the edge (`output` is the "
                "text so far when the edge holds it all, else null).",
                {
                    "200": json_answer("The turns in order.", "Conversation"),
                    "400": error("A malformed conversation id.", "bad_request"),
                    "404": error("No turn of it is known.", "unknown_conversation"),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                READ,
                parameters=[cid],
                example=curl("curl -s localhost:8000/v1/conversations/chat-42"),
            )
        },  # fmt: skip
        "/v1/conversations/{cid}/events": {
            "get": op(
                "streamConversation",
                "Follow a conversation (SSE)",
                f"Each turn as it starts (a `{TURN_EVENT}` event), then its events as the "
                "multiplexed stream labels them. `id:` is the whole position, `T;RID:N,...`; "
                "send it back as Last-Event-ID (or `?after=`). It stays open for new turns.",
                {
                    "200": sse_answer("Turns and their events.", position, turn, event_item()),
                    "400": error(
                        "A malformed conversation id (`bad_request`), a malformed cursor or "
                        "one naming turns it does not have (`bad_cursor`), or past a "
                        "response's end (`cursor_beyond_end`).",
                        "bad_request",
                        "bad_cursor",
                        "cursor_beyond_end",
                    ),
                    "404": error(
                        "No turn of it is known, or a turn's response is not found.",
                        "unknown_conversation",
                        "unknown_response",
                    ),
                    "410": error("A position is no longer retained.", "not_retained"),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                READ,
                stream=True,
                parameters=[
                    cid,
                    query(
                        "after",
                        "A position as `id:` gave it.",
                        {"type": "string", "pattern": position},
                    ),
                    last_event_id("A position as `id:` gave it; wins over `after`."),
                ],
                example=curl("curl -N localhost:8000/v1/conversations/chat-42/events"),
            )
        },  # fmt: skip
    }


def service(settings: Settings) -> Doc:
    minutes = {"type": "integer", "minimum": 1, "maximum": settings.stats_window_minutes}
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/v1/models": {
            "get": op(
                "listModels",
                "The models this deployment offers",
                "`demo`, then each enabled provider's models (`openai/*`: any name).",
                {"200": json_answer("Model names for `model`.", "Models")},
                PUBLIC,
                example=curl("curl -s localhost:8000/v1/models"),
            )
        },  # fmt: skip
        "/v1/stats": {
            "get": op(
                "getStats",
                "Per-model stats of the last minutes",
                "Responses, errors by code, cancels, time to first text, tokens "
                "(docs/analytics.md).",
                {
                    "200": json_answer("Per model, per minute and in all.", "Stats"),
                    "400": error("`minutes` is not a whole number in the window.", "bad_request"),
                },
                WRITE,
                parameters=[
                    query(
                        "minutes",
                        "How many of the latest minutes (default: the whole window).",
                        minutes,
                    )
                ],
                example=curl(
                    "curl -s 'localhost:8000/v1/stats?minutes=5' -H 'Authorization: Bearer KEY'"
                ),
            )
        },  # fmt: skip
        "/v1/read_tokens": {
            "post": op(
                "mintReadToken",
                "A fresh read token",
                "For a backend holding an API key to hand a reader whose token expired: a "
                "token for one response (`response_id`) or one conversation (`conversation_id`). "
                "The reader resumes with Last-Event-ID and the new token (docs/security.md).",
                {
                    "200": json_answer("The token and when it expires.", "ReadToken"),
                    "400": error(
                        "Not exactly one of the two ids, or API keys are off.", "bad_request"
                    ),
                },
                WRITE,
                body={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": ref("ReadTokenRequest"),
                            "example": {"response_id": "resp_19b0c1d2e3f_4a5b6c7d8e9f0a1b"},
                        }
                    },
                },
                example=curl(
                    "curl -s -X POST localhost:8000/v1/read_tokens -H 'Authorization: Bearer KEY' "
                    """-d '{"response_id": "RID"}'"""
                ),
            )
        },  # fmt: skip
        "/healthz": {
            "get": op(
                "health",
                "Liveness",
                "Live once the edge's Kafka consumers run: nothing written from then on is missed.",
                {"200": json_answer("Live.", "Health"), "503": json_answer("Not live.", "Health")},
                PUBLIC,
                example=curl("curl -s localhost:8000/healthz"),
            )
        },  # fmt: skip
        "/metrics": {
            "get": op(
                "metrics",
                "Prometheus metrics",
                "The edge's counters and gauges, and the per-model stats series.",
                {"200": {"description": "Prometheus text format.", "content": text}},
                WRITE,
                example=curl("curl -s localhost:8000/metrics -H 'Authorization: Bearer KEY'"),
            )
        },  # fmt: skip
        "/openapi.json": {
            "get": op(
                "openapi",
                "This document",
                "The OpenAPI 3.1 document of the edge's HTTP API.",
                {
                    "200": {
                        "description": "The document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                PUBLIC,
                example=curl("curl -s localhost:8000/openapi.json"),
            )
        },  # fmt: skip
        "/": {
            "get": op(
                "demoPage",
                "The demo page",
                "A page that streams answers in the browser.",
                {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
                PUBLIC,
            )
        },  # fmt: skip
        "/static/{path}": {
            "get": op(
                "staticFile",
                "The browser client's files",
                "The demo page's scripts and styles (app/static/).",
                {
                    "200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
                    "404": error("No such file.", "http_error"),
                },
                PUBLIC,
                parameters=[path_param("path", "A file under app/static/.")],
            )
        },  # fmt: skip
    }
