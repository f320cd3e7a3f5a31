"""Conversations on real Kafka, worker and edge, with the fake OpenAI upstream, on SQLite and
PostgreSQL: three turns of one conversation where the third request the model receives holds
the first two turns' questions and answers (the client sent only the new message each time);
`previous_response_id` continues the same way; GET /v1/conversations/{id} lists the turns; a
conversation stream opened before the second turn sees the second and third responses live,
and a reconnect with Last-Event-ID resumes without gap or duplicate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from app.storage import migrate
from tests.fakes.upstream import FakeUpstream

from .procs import Stack, up
from .sse import client_for, read_events

pytestmark = pytest.mark.integration
Event = tuple[str, str, dict[str, Any]]  # (id, event, data)


@pytest.fixture
async def client(
    stack: Stack, database_url: str, fake: FakeUpstream
) -> AsyncIterator[httpx.AsyncClient]:
    stack.settings = dataclasses.replace(
        stack.settings, database_url=database_url, openai_base_url=f"{fake.url}/v1",
        openai_api_key="sk-test", conversation_wait_s=30.0,
    )  # fmt: skip
    if database_url.startswith("postgresql"):
        await migrate.upgrade(database_url)
    edge = await up(stack)
    async with client_for(edge.url) as c:
        yield c


async def turn(client: httpx.AsyncClient, prompt: str, **named: str) -> dict[str, Any]:
    resp = await client.post(
        "/v1/responses", json={"model": "openai/conv", "input": f"echo:{prompt}", **named}
    )
    assert resp.status_code == 201, resp.text
    read = await read_events(client, resp.json()["id"])
    assert read.events[-1].type == "done", read.events[-1]
    return dict(resp.json())


async def follow(client: httpx.AsyncClient, cid: str, out: list[Event], until: int,
                 last_event_id: str | None = None) -> None:  # fmt: skip
    """Read the conversation stream into `out` until `until` responses have ended."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with client.stream("GET", f"/v1/conversations/{cid}/events", headers=headers) as resp:
        assert resp.status_code == 200, await resp.aread()
        fields: dict[str, str] = {}
        async for line in resp.aiter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                out.append((fields["id"], fields["event"], orjson.loads(fields["data"])))
                if sum(e[1] in ("done", "error", "cancelled") for e in out) >= until:
                    return
            fields = {}


def upstream_messages(fake: FakeUpstream, prompt: str) -> list[dict[str, Any]]:
    [seen] = fake.find(lambda s: s.prompt == f"echo:{prompt}")  # prompts are this test's own
    return [{"role": m["role"], "content": m["content"]} for m in seen.body["messages"]]


async def test_a_conversation_of_three_turns(client: httpx.AsyncClient, fake: FakeUpstream) -> None:
    tag = secrets.token_hex(4)
    cid = f"conv-{tag}"
    a, b, c, d = (f"{word}-{tag}" for word in ("alpha", "beta", "gamma", "delta"))
    first = await turn(client, a, conversation_id=cid)
    assert (first["conversation_id"], first["turn"]) == (cid, 1)

    live: list[Event] = []
    reader = asyncio.create_task(follow(client, cid, live, until=3))
    second = await turn(client, b, conversation_id=cid)
    third = await turn(client, c, conversation_id=cid)
    assert (second["turn"], third["turn"], third["context"]["turns"]) == (2, 3, 2)
    # The model got the whole conversation though the client sent only "gamma".
    assert upstream_messages(fake, c) == [
        {"role": "user", "content": f"echo:{a}"}, {"role": "assistant", "content": a},
        {"role": "user", "content": f"echo:{b}"}, {"role": "assistant", "content": b},
        {"role": "user", "content": f"echo:{c}"},
    ]  # fmt: skip

    await asyncio.wait_for(reader, 30)
    rids = [first["id"], second["id"], third["id"]]
    assert [e[2]["rid"] for e in live if e[1] == "response"] == rids
    assert [e[2]["prompt"] for e in live if e[1] == "response"] == [
        f"echo:{a}", f"echo:{b}", f"echo:{c}",
    ]  # fmt: skip
    for rid, answer in zip(rids, [a, b, c], strict=True):
        mine = [e[2] for e in live if e[1] != "response" and e[2]["rid"] == rid]
        assert [d["seq"] for d in mine] == list(range(1, len(mine) + 1))
        assert "".join(x.get("text") or "" for x in mine if x.get("type") == "delta") == answer

    # A reconnect from anywhere in the middle resumes without gap or duplicate.
    cut = next(i for i, e in enumerate(live) if e[1] == "response" and e[2]["rid"] == rids[1])
    for at in (cut, cut + 2):
        resumed: list[Event] = []
        done_before = sum(e[1] == "done" for e in live[: at + 1])
        await asyncio.wait_for(
            follow(client, cid, resumed, until=3 - done_before, last_event_id=live[at][0]), 30
        )
        # Per response, in order (two responses in flight interleave as they come).
        assert per_response(live[: at + 1] + resumed) == per_response(live)

    listed = await listing(client, cid, 3)
    assert [(t["id"], t["turn"], t["input"], t["output"]) for t in listed] == [
        (rids[0], 1, f"echo:{a}", a), (rids[1], 2, f"echo:{b}", b),
        (rids[2], 3, f"echo:{c}", c),
    ]  # fmt: skip

    # previous_response_id: the conversation of that response, continued.
    fourth = await turn(client, d, previous_response_id=third["id"])
    assert (fourth["conversation_id"], fourth["turn"]) == (cid, 4)
    assert [m["content"] for m in upstream_messages(fake, d)] == [
        f"echo:{a}", a, f"echo:{b}", b, f"echo:{c}", c, f"echo:{d}",
    ]  # fmt: skip


def per_response(events: list[Event]) -> dict[str, list[tuple[str, int | None]]]:
    out: dict[str, list[tuple[str, int | None]]] = {}
    for _, name, data in events:
        out.setdefault(data["rid"], []).append((name, data.get("seq")))
    return out


async def listing(client: httpx.AsyncClient, cid: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        resp = await client.get(f"/v1/conversations/{cid}")
        assert resp.status_code == 200, resp.text
        turns: list[dict[str, Any]] = resp.json()["turns"]
        if (
            len(turns) == n
            and all(t["status"] == "done" for t in turns)
            or time.monotonic() > deadline
        ):
            return turns
        await asyncio.sleep(0.2)


async def test_errors_are_json_and_never_500(client: httpx.AsyncClient) -> None:
    async def status(method: str, url: str, **kw: Any) -> tuple[int, str]:
        resp = await client.request(method, url, **kw)
        return resp.status_code, resp.json()["error"]["code"]

    assert await status("GET", "/v1/conversations/nothing-here") == (404, "unknown_conversation")
    assert await status("GET", "/v1/conversations/nothing/events") == (404, "unknown_conversation")
    assert await status("GET", "/v1/conversations/a%20b") == (400, "bad_request")
    body = {"model": "demo", "input": "hi", "previous_response_id": "resp_nope"}
    assert await status("POST", "/v1/responses", json=body) == (404, "unknown_response")
    body = {"model": "demo", "input": "hi", "conversation_id": "bad id"}
    assert await status("POST", "/v1/responses", json=body) == (400, "bad_request")
    cid = f"conv-{secrets.token_hex(4)}"
    await turn(client, "one", conversation_id=cid)
    for cursor in ("x", "5", "1;other:3", "0;a:1"):
        got = await status(
            "GET", f"/v1/conversations/{cid}/events", headers={"Last-Event-ID": cursor}
        )
        assert got == (400, "bad_cursor"), cursor


async def test_the_turn_cap_keeps_the_latest_turns(
    stack: Stack, database_url: str, fake: FakeUpstream
) -> None:
    """With conversation_max_turns=2, a fourth turn is sent turns 2 and 3 (storage is read for
    those only); continuing from the second response sends turns 1 and 2."""
    stack.settings = dataclasses.replace(
        stack.settings, database_url=database_url, openai_base_url=f"{fake.url}/v1",
        openai_api_key="sk-test", conversation_wait_s=30.0, conversation_max_turns=2,
    )  # fmt: skip
    if database_url.startswith("postgresql"):
        await migrate.upgrade(database_url)
    edge = await up(stack)
    tag = secrets.token_hex(4)
    cid = f"cap-{tag}"
    a, b, c, d, e = (f"{word}-{tag}" for word in ("one", "two", "three", "four", "five"))
    async with client_for(edge.url) as client:
        await turn(client, a, conversation_id=cid)
        second = await turn(client, b, conversation_id=cid)
        await turn(client, c, conversation_id=cid)
        fourth = await turn(client, d, conversation_id=cid)
        assert fourth["turn"] == 4
        assert (fourth["context"]["turns"], fourth["context"]["dropped_turns"]) == (2, 1)
        assert [m["content"] for m in upstream_messages(fake, d)] == [
            f"echo:{b}", b, f"echo:{c}", c, f"echo:{d}",
        ]  # fmt: skip
        fifth = await turn(client, e, previous_response_id=second["id"])
        assert fifth["turn"] == 5
        assert (fifth["context"]["turns"], fifth["context"]["dropped_turns"]) == (2, 0)
        assert [m["content"] for m in upstream_messages(fake, e)] == [
            f"echo:{a}", a, f"echo:{b}", b, f"echo:{e}",
        ]  # fmt: skip
