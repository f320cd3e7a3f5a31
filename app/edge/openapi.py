"""The edge's OpenAPI 3.1 document, served at `GET /openapi.json`: every route of routes.ROUTES,
its parameters, bodies, statuses and error codes. The one source of the HTTP contract:
docs/api.md is rendered from it (apidoc.py), and tests check it against the routes and, by
fuzzing a real edge, against what the edge answers.

Access (API keys, read tokens) is declared here ahead of its enforcement, so the document is
right once it lands: writes, stats and metrics need an API key; reads a read token or a key.
"""

from __future__ import annotations

import functools

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.edge import openapi_schemas as schemas
from app.edge.openapi_parts import API_KEY, READ_TOKEN, READ_TOKEN_QUERY, Doc
from app.edge.openapi_paths import operations
from app.settings import Settings

VERSION = "3.1.0"


def document(settings: Settings) -> Doc:
    """The whole document for an edge with `settings` (its limits appear in the schemas)."""
    return {
        "openapi": VERSION,
        "info": {
            "title": "tokenrelay edge",
            "version": "1",
            "description": "Streams LLM responses token by token to any number of Server-Sent "
            "Events readers, who can drop and resume from any position. Every "
            'error is `{"error": {"code", "message"}}`; `code` is stable, '
            "`message` is for people.",
        },  # fmt: skip
        "paths": operations(settings),
        "components": {
            "schemas": schemas.schemas(settings),
            "securitySchemes": {
                API_KEY: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`tokenrelay keys create`): "
                    "`Authorization: Bearer <key>`.",
                },
                READ_TOKEN: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The `read_token` of a POST's answer: reads that "
                    "response only. `Authorization: Bearer <token>`.",
                },
                READ_TOKEN_QUERY: {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The read token as `?token=`, for clients "
                    "that cannot set headers (EventSource).",
                },
            },  # fmt: skip
        },
    }


@functools.cache
def encoded(settings: Settings) -> bytes:
    return orjson.dumps(document(settings))


async def serve(request: Request) -> Response:
    """GET /openapi.json."""
    body = encoded(request.app.state.edge.settings)
    return Response(body, media_type="application/json")
