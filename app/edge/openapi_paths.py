"""The OpenAPI document's paths (the responses' here, the rest in openapi_service.py): one entry
per route of routes.ROUTES, each with every status it answers and every error code of each
status (app/errors.py's tree, as routes.on_error maps it).
"""

from __future__ import annotations

from app import views
from app.edge.openapi_parts import (
    READ,
    UNAVAILABLE,
    VECTOR,
    WRITE,
    Doc,
    curl,
    cursor_params,
    error,
    event_item,
    json_answer,
    last_event_id,
    op,
    path_param,
    query,
    sse_answer,
)
from app.edge.openapi_schemas import ref
from app.edge.openapi_service import conversations, service
from app.producer import MAX_RECORD_BYTES
from app.settings import Settings

RID = path_param("rid", "A response id, as a POST's answer gave it.")
NO_CONTENT = {"description": "The cursor holds the terminal event: nothing is left to send."}


def operations(settings: Settings) -> Doc:
    s = settings
    return {
        "/v1/responses": {
            "post": op(
                "createResponse",
                "Start a response",
                "Validates the request, publishes it and answers at once; the model's text is read "
                "from `events_url`. A cache hit (`cache`) replays a stored answer; a conversation "
                "(`conversation_id`, `previous_response_id`) gets its stored turns prepended.",
                {
                    "201": json_answer("Started: read it at `events_url`.", "Created"),
                    "400": error(
                        "The body, a call, a view, an option or the model is invalid.",
                        "bad_request",
                    ),
                    "404": error(
                        "`previous_response_id` names no known response.", "unknown_response"
                    ),
                    "409": error(
                        "An earlier turn of the conversation is not stored yet (retriable).",
                        "turn_in_progress",
                    ),
                    "413": error(
                        f"The body is over {s.edge_max_body} bytes, or the request (with a "
                        f"conversation's context) over {MAX_RECORD_BYTES} as a Kafka record "
                        f"(`body_too_large`); its input over {s.edge_max_input_chars} characters "
                        f"(`input_too_long`); more than {s.generation_max_calls} `calls` "
                        "(`too_many_calls`).",
                        "body_too_large",
                        "input_too_long",
                        "too_many_calls",
                    ),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                WRITE,
                body={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": ref("CreateResponse"),
                            "example": {
                                "model": "demo",
                                "input": "Explain Kafka.",
                                "params": {"tokens": 20},
                            },
                        }
                    },
                },
                example=curl(
                    "curl -s localhost:8000/v1/responses -H 'Authorization: Bearer KEY' \\",
                    '  -d \'{"model": "demo", "input": "Explain Kafka."}\'',
                ),
            )
        },  # fmt: skip
        "/v1/responses/{rid}/events": {
            "get": op(
                "streamEvents",
                "Read a response's events (SSE)",
                "Every event from the cursor on, then live until the terminal event (`done`, "
                "`error`, `cancelled`), with `: ping` comments when idle. `id:` is the seq: a "
                "reconnect sends it back as Last-Event-ID and resumes with no gap or repeat. "
                "`?view=NAME` reads a view instead (docs/views.md).",
                {
                    "200": sse_answer("The events after the cursor.", r"^[0-9]+$", event_item()),
                    "204": NO_CONTENT,
                    "400": error(
                        "A malformed cursor (`bad_cursor`), one past the finished response's "
                        "end (`cursor_beyond_end`), or an unknown view (`bad_request`).",
                        "bad_cursor",
                        "cursor_beyond_end",
                        "bad_request",
                    ),
                    "403": error(
                        "The response is moderated: only `?view=moderated` is served.",
                        "moderated_response",
                    ),
                    "404": error(
                        "No such response, or it did not ask for this view.", "unknown_response"
                    ),
                    "410": error(
                        "The events after the cursor are no longer retained.", "not_retained"
                    ),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                READ,
                stream=True,
                parameters=[
                    RID,
                    *cursor_params("the stream"),
                    query(
                        "view",
                        "A view's stream instead of the raw one.",
                        {"enum": list(views.names())},
                    ),
                ],
                example=curl(
                    "curl -N localhost:8000/v1/responses/RID/events",
                    "curl -N -H 'Last-Event-ID: 700' localhost:8000/v1/responses/RID/events",
                    "curl -N 'localhost:8000/v1/responses/RID/events?view=sentences'",
                ),
            )
        },  # fmt: skip
        "/v1/responses/{rid}": {
            "get": op(
                "getResponse",
                "A response's text so far",
                "Its status, last seq and text per source. A moderated response's `sources` is "
                "empty and `moderated_url` says where its text is served.",
                {
                    "200": json_answer("The snapshot.", "Snapshot"),
                    "404": error("No such response.", "unknown_response"),
                    "410": error(
                        "Neither Kafka nor storage holds its events any more.", "not_retained"
                    ),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                READ,
                parameters=[RID],
                example=curl("curl -s localhost:8000/v1/responses/RID"),
            )
        },  # fmt: skip
        "/v1/responses/{rid}/cancel": {
            "post": op(
                "cancelResponse",
                "Cancel a response",
                "Stops its model calls; the stream ends with `cancelled`. Idempotent; a finished "
                "response is left as it ended.",
                {
                    "200": json_answer(
                        "Already finished: `status` says how; nothing was cancelled.", "Cancelled"
                    ),
                    "202": json_answer(
                        "The cancel is published (`status` `cancelling`).", "Cancelled"
                    ),
                    "404": error("No such response.", "unknown_response"),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                WRITE,
                parameters=[RID],
                example=curl(
                    "curl -s -X POST localhost:8000/v1/responses/RID/cancel "
                    "-H 'Authorization: Bearer KEY'"
                ),
            )
        },  # fmt: skip
        "/v1/events": {
            "get": op(
                "streamMany",
                "Several responses on one connection (SSE)",
                "Each response from its own position, merged as events come; `data` carries "
                "`rid`, and `id:` is the whole position vector (`RID1:13,RID2:5`), which "
                "Last-Event-ID sends back to resume them all. Statuses as on the single stream, "
                "for the first response that has one.",
                {
                    "200": sse_answer("The merged events.", VECTOR, event_item()),
                    "204": NO_CONTENT,
                    "400": error(
                        "A malformed list or a bad position.",
                        "bad_request",
                        "bad_cursor",
                        "cursor_beyond_end",
                    ),
                    "413": error(
                        f"More than {s.edge_max_streams} responses.", "too_many_streams"
                    ),
                    "403": error("A response named is moderated.", "moderated_response"),
                    "404": error("A response named is unknown.", "unknown_response"),
                    "410": error("A position is no longer retained.", "not_retained"),
                    "503": error(UNAVAILABLE, "unavailable"),
                },
                READ,
                stream=True,
                parameters=[
                    query(
                        "streams",
                        "`RID:N` pairs, comma-separated (`RID` alone is `RID:0`).",
                        {"type": "string", "pattern": VECTOR},
                        True,
                    ),
                    last_event_id(
                        "A position vector from an earlier event; wins over "
                        "the positions in `streams`."
                    ),
                ],
                example=curl("curl -N 'localhost:8000/v1/events?streams=RID1:0,RID2:12'"),
            )
        },  # fmt: skip
        **conversations(),
        **service(settings),
    }
