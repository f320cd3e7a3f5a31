"""A response that asked for the `moderated` view is served to ordinary readers only through it:
its raw stream, its other views, its snapshot's text and its place in a multiplexed stream are
withheld (403 `moderated_response`), on real processes, while it runs and after it ended."""

from __future__ import annotations

import httpx
import pytest

from .procs import Edge, Stack
from .sse import client_for, create, delta_text, read_all, read_events

pytestmark = pytest.mark.integration


def demo(views: list[str], tokens: int = 200) -> dict[str, object]:
    return {"model": "demo", "input": "Explain Kafka consumer groups.",
            "params": {"tokens": tokens, "rate": 400}, "views": views}  # fmt: skip


def withheld(status: int, body: bytes | dict[str, object]) -> bool:
    obj = httpx.Response(status, content=body).json() if isinstance(body, bytes) else body
    error = obj["error"]
    assert isinstance(error, dict)
    return status == 403 and error["code"] == "moderated_response" and (
        "?view=moderated" in str(error["message"])
    )


async def test_a_moderated_response_is_served_only_through_its_moderated_view(
    shared: tuple[Stack, Edge],
) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        rid = await create(client, demo(["moderated", "sentences"]))
        moderated = await read_all(client, rid, view="moderated", wait_known_s=10)
        raw = await read_events(client, rid)
        other = await read_events(client, rid, view="sentences")
        many = await client.get("/v1/events", params={"streams": f"{rid}:0"})
        snap = (await client.get(f"/v1/responses/{rid}")).json()
    assert moderated.events[-1].type == "done" and len(delta_text(moderated.events)) > 100
    assert withheld(raw.status, raw.body), raw.body
    assert withheld(other.status, other.body), other.body
    assert withheld(many.status_code, many.json()), many.text
    assert snap["sources"] == {} and snap["status"] == "done"
    assert snap["moderated_url"] == f"/v1/responses/{rid}/events?view=moderated"


async def test_while_it_runs_too_and_other_responses_are_unaffected(
    shared: tuple[Stack, Edge],
) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        rid = await create(client, demo(["moderated"], tokens=2000))
        plain = await create(client, demo(["sentences"], tokens=50))
        early = await read_events(client, rid)
        await client.post(f"/v1/responses/{rid}/cancel")
        free = await read_all(client, plain, wait_known_s=10)
        free_view = await read_all(client, plain, view="sentences", wait_known_s=10)
        both = await client.get("/v1/events", params={"streams": f"{plain}:0,{rid}:0"})
    assert withheld(early.status, early.body), early.body
    assert free.events[-1].type == "done" and free_view.events[-1].type == "done"
    assert withheld(both.status_code, both.json()), both.text
