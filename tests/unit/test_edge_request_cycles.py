"""A request through the edge's app leaves no reference cycle behind. uvicorn's request object
holds the scope, and the server's `send` is one of its methods: a scope that kept that `send`
made every request a cycle, which only a full collection frees (a loaded edge's arenas grew
with them between collections and stayed allocated)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.edge.main import EdgeApp


class ServerRequest:
    """Like uvicorn's RequestResponseCycle: it owns the scope, and its `send` is a method."""

    def __init__(self, path: str) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [],
            "root_path": "",
        }
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("path,status", [("/hello", 200), ("/missing", 404)])
async def test_a_request_is_freed_without_the_cycle_collector(
    no_collector: None, path: str, status: int
) -> None:
    app = EdgeApp(routes=[Route("/hello", hello)])
    server = ServerRequest(path)
    await app(server.scope, server.receive, server.send)
    assert server.sent[0]["status"] == status
    freed = weakref.ref(server)
    del server
    assert freed() is None  # refcounting alone freed it: nothing in the scope points back
