"""POST /v1/responses/{id}/cancel answers from what the edge knew before it sent the cancel:
the cancel's own `cancelled` event can reach the edge before Kafka acknowledges the cancel, and
then the answer said "already over" (cancelled: false) for the cancel that ended it (a
clean-clone run of tests/integration/test_cli.py found it)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from app.edge import routes
from app.edge.tracked import Tracked
from app.settings import Settings


class Edge:
    """The edge state the endpoint uses: a locator that knows the response, and a publisher
    whose send returns after the response has already ended (`race`) or not."""

    def __init__(self, tracked: Tracked, race: bool) -> None:
        self.settings = Settings(auth="off")
        self.access = None
        self.tracked, self.race = tracked, race
        self.locator = SimpleNamespace(find=self.find)
        self.publisher = SimpleNamespace(send=self.send)
        self.sent = 0

    async def find(self, rid: str, wait_s: float) -> Tracked:
        return self.tracked

    async def send(self, topic: str, key: str, value: bytes) -> int:
        self.sent += 1
        if self.race:  # the worker's `cancelled` event arrived first
            self.tracked.settle("cancelled", 8)
        return 0


async def post_cancel(edge: Edge) -> tuple[int, dict[str, object]]:
    app = Starlette(routes=[Route("/v1/responses/{rid}/cancel", routes.cancel, methods=["POST"])])
    app.state.edge = edge
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        resp = await client.post("/v1/responses/r1/cancel")
    return resp.status_code, resp.json()


@pytest.mark.parametrize("race", [False, True])
async def test_a_cancel_that_ends_the_response_says_so(race: bool) -> None:
    edge = Edge(Tracked("r1", 0), race)
    status, body = await post_cancel(edge)
    assert (status, body) == (202, {"id": "r1", "status": "cancelling", "cancelled": True})
    assert edge.sent == 1


async def test_a_cancel_of_a_finished_response_says_how_it_ended() -> None:
    tracked = Tracked("r1", 0)
    tracked.settle("done", 12)
    edge = Edge(tracked, race=False)
    status, body = await post_cancel(edge)
    assert (status, body) == (200, {"id": "r1", "status": "done", "cancelled": False})
    assert edge.sent == 1  # recorded for the audit log all the same
