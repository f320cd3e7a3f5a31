"""The OpenAPI document against the code: every route documented and nothing else, every error
code with the status the error tree gives it, a valid OpenAPI 3.1 document, served as JSON, and
docs/api.md exactly what the document renders (regenerate: tokenrelay openapi --markdown)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from app import errors
from app.edge import apidoc, openapi, routes
from app.edge.openapi_parts import codes_of
from app.settings import Settings

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# Answered by the access checks (API keys) and by Starlette's own errors (routes.on_error).
NOT_IN_TREE = {"unauthorized", "forbidden", "too_many_responses", "too_many_connections",
               "http_error"}  # fmt: skip


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document(Settings())


def routed() -> set[tuple[str, str]]:
    out = set()
    for route in routes.ROUTES:
        if isinstance(route, Mount):
            out.add((f"{route.path}/{{path}}", "get"))
        else:
            assert isinstance(route, Route)
            out |= {(route.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return out


def test_every_route_is_documented_and_nothing_else(doc: dict[str, Any]) -> None:
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routed() - documented == set(), "routes missing from the document"
    assert documented - routed() == set(), "documented operations no route serves"


def test_error_codes_have_the_status_of_their_class(doc: dict[str, Any]) -> None:
    # TooLarge and TooMany are raised only as their subclasses, which name the limit.
    bases = (errors.TooLarge, errors.TooMany)
    # A StreamError's code is a terminal event's, never an HTTP answer's.
    http = [c for c in _subclasses(errors.TokenRelayError) if not issubclass(c, errors.StreamError)]
    tree = {c.code: c.status for c in http if c not in bases}
    seen = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, answer in op["responses"].items():
                for code in codes_of(answer):
                    seen.add(code)
                    if code not in NOT_IN_TREE:
                        assert tree[code] == int(status), f"{method} {path}: {code} is {status}"
    # Every code an endpoint can raise is documented somewhere; `undecodable` is a Kafka
    # record's, `write_failed` the worker's writer's (the edge's POST maps Kafka faults to 503).
    assert set(tree) - {errors.DecodeError.code, errors.WriteFailed.code} <= seen


def test_access_errors_on_guarded_operations(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            guarded = bool(op["security"])
            assert ("401" in op["responses"]) == guarded, f"{method} {path}"
            if guarded:
                assert "forbidden" in codes_of(op["responses"]["403"])
    stream = doc["paths"]["/v1/responses/{rid}/events"]["get"]["responses"]
    assert codes_of(stream["429"]) == ["too_many_connections"]
    post = doc["paths"]["/v1/responses"]["post"]["responses"]
    assert codes_of(post["429"]) == ["too_many_responses"]


def test_a_valid_openapi_31_document(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(doc).validate()


async def test_served_as_json() -> None:
    app = Starlette(routes=routes.ROUTES)
    app.state.edge = SimpleNamespace(settings=Settings(edge_max_streams=3))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        got = await client.get("/openapi.json")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert orjson.loads(got.content) == openapi.document(Settings(edge_max_streams=3))


def test_docs_api_md_is_rendered_from_the_document() -> None:
    assert API_MD.read_text() == apidoc.render(), (
        "docs/api.md differs from the OpenAPI document: tokenrelay openapi --markdown > docs/api.md"
    )


def _subclasses(cls: type[errors.TokenRelayError]) -> list[type[errors.TokenRelayError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out
