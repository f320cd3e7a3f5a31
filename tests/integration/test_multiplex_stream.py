"""Several responses on one SSE connection (`GET /v1/events?streams=RID1:0,RID2:0`), dropped and
resumed with nothing but Last-Event-ID: each response continues from its own position, no gap,
no repeat. Statuses as on the single stream: 400, 404, 410, 204; heartbeats.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from .kafkautil import delete_all_records
from .procs import Edge, Stack, up
from .sse import assert_contiguous, client_for, create_demo, read_all

pytestmark = pytest.mark.integration

Shared = tuple[Stack, Edge]


@dataclass
class Muxed:
    status: int
    headers: httpx.Headers
    ids: list[str] = field(default_factory=list)  # the SSE id of each event
    events: list[dict[str, Any]] = field(default_factory=list)  # each event's data
    pings: int = 0
    body: bytes = b""
    ended: str = ""

    def of(self, rid: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["rid"] == rid]


async def read_muxed(
    client: httpx.AsyncClient,
    streams: str,
    *,
    last_event_id: str | None = None,
    limit: int | None = None,
    into: Muxed | None = None,
    timeout_s: float = 60,
) -> Muxed:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with asyncio.timeout(timeout_s):
        async with client.stream(
            "GET", "/v1/events", params={"streams": streams}, headers=headers
        ) as resp:
            out = into or Muxed(resp.status_code, resp.headers)
            out.status, out.headers = resp.status_code, resp.headers
            if resp.status_code != 200:
                out.body = await resp.aread()
                return out
            fields: dict[str, str] = {}
            count = 0
            async for line in resp.aiter_lines():
                if line.startswith(":"):
                    out.pings += 1
                elif line:
                    name, _, value = line.partition(": ")
                    assert name not in fields, f"field {name} twice in one event"
                    fields[name] = value
                elif fields:
                    data = orjson.loads(fields["data"])
                    assert data["type"] == fields["event"]
                    out.ids.append(fields["id"])
                    out.events.append(data)
                    fields = {}
                    count += 1
                    if limit is not None and count >= limit:
                        out.ended = "limit"
                        return out
            out.ended = "eof"
            return out


def vector(raw: str) -> dict[str, int]:
    return {rid: int(pos) for rid, _, pos in (item.rpartition(":") for item in raw.split(","))}


def check_ids(got: Muxed, start: dict[str, int]) -> None:
    """Each id is the whole vector: the event's own response at its seq, the others unchanged."""
    held = dict(start)
    for raw, data in zip(got.ids, got.events, strict=True):
        now = vector(raw)
        assert list(now) == list(start), raw
        assert now[data["rid"]] == data["seq"], (raw, data)
        held[data["rid"]] = data["seq"]
        assert now == held, (raw, held)


async def test_three_responses_on_one_connection_dropped_and_resumed(shared: Shared) -> None:
    async with client_for(shared[1].url) as client:
        rids = [
            await create_demo(client, tokens=120, rate=80, prompt=f"topic {i}") for i in range(3)
        ]
        streams = ",".join(f"{rid}:0" for rid in rids)
        start = {rid: 0 for rid in rids}
        got = await read_muxed(client, streams, limit=40)  # ... and the client drops
        assert got.status == 200 and got.ended == "limit"
        assert got.headers["content-type"].startswith("text/event-stream")
        assert got.headers["cache-control"] == "no-cache"
        drops = 1
        while sum(1 for e in got.events if e["type"] == "done") < 3:
            # EventSource reconnects to the same URL with only the last id: the vector.
            limit = 60 if drops < 3 else None
            await read_muxed(client, streams, last_event_id=got.ids[-1], limit=limit, into=got)
            drops += 1
        check_ids(got, start)
        for rid in rids:
            mine = got.of(rid)
            assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1)), rid
            assert mine[-1]["type"] == "done"
            alone = await read_all(client, rid)
            assert_contiguous(alone.events)
            assert [e.data for e in alone.events] == mine, f"{rid} differs from its own stream"
        # Reconnecting with every terminal held: nothing more to send.
        final = await read_muxed(client, streams, last_event_id=got.ids[-1])
        assert final.status == 204 and not final.events


async def test_positions_from_the_query_and_finished_responses(shared: Shared) -> None:
    async with client_for(shared[1].url) as client:
        finished = await create_demo(client, tokens=10, rate=0)
        last = (await read_all(client, finished)).events[-1].seq
        live = await create_demo(client, tokens=30, rate=50)
        end = (await read_all(client, live)).events[-1].seq
        # The writer coalesces deltas, so positions come from the counts the log really has.
        assert last >= 3 and end >= 10, (last, end)
        # A response whose position holds its terminal stays in the ids but sends nothing.
        got = await read_muxed(client, f"{finished}:{last},{live}:{end - 5}")
        assert got.ended == "eof"
        assert [(e["rid"], e["seq"]) for e in got.events] == [
            (live, s) for s in range(end - 4, end + 1)
        ]
        check_ids(got, {finished: last, live: end - 5})
        # Last-Event-ID positions win over the query's; a response it leaves out keeps its own.
        mid = await read_muxed(
            client, f"{finished}:{last - 2},{live}:0", last_event_id=f"{live}:{end - 2}"
        )
        assert [e["seq"] for e in mid.of(finished)] == [last - 1, last]
        assert [e["seq"] for e in mid.of(live)] == [end - 1, end]
        check_ids(mid, {finished: last - 2, live: end - 2})


async def test_heartbeats_while_waiting(shared: Shared) -> None:
    heartbeat = shared[0].settings.heartbeat_s
    async with client_for(shared[1].url) as client:
        slow = await create_demo(client, tokens=3, rate=0.4)  # ~5 s of silence between tokens
        got = await read_muxed(client, f"{slow}:0", timeout_s=30)
        assert [e["type"] for e in got.events][-1] == "done"
        assert got.pings >= int(5 / heartbeat), got.pings


@pytest.mark.parametrize(
    ("streams", "last_event_id", "status", "code"),
    [
        (None, None, 400, "bad_request"),
        ("{rid}:abc", None, 400, "bad_cursor"),
        ("{rid}:-1", None, 400, "bad_cursor"),
        ("{rid}:1,{rid}:2", None, 400, "bad_cursor"),
        ("{rid}:0", "{rid}:x", 400, "bad_cursor"),
        ("{rid}:0", "resp_other:3", 400, "bad_cursor"),
        (",".join(f"r{i}:0" for i in range(17)), None, 413, "too_many_streams"),
        ("{rid}:0,resp_000000000000000000000000:0", None, 404, "unknown_response"),
    ],
)
async def test_errors(
    shared: Shared, streams: str | None, last_event_id: str | None, status: int, code: str
) -> None:
    async with client_for(shared[1].url) as client:
        rid = await create_demo(client, tokens=5, rate=0)
        params = {} if streams is None else {"streams": streams.format(rid=rid)}
        headers = {"Last-Event-ID": last_event_id.format(rid=rid)} if last_event_id else {}
        resp = await client.get("/v1/events", params=params, headers=headers)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code


async def test_not_retained_is_410(stack: Stack) -> None:
    settings = stack.settings
    edge = await up(stack)
    async with client_for(edge.url) as client:
        rid = await create_demo(client, tokens=20, rate=0)
        await read_all(client, rid)
    await delete_all_records(settings, settings.events_topic)
    edge.stop()  # a new edge knows only what Kafka keeps (and an empty database)
    edge = await stack.edge(database_url=f"sqlite:///{stack.workdir / 'empty.db'}")
    async with client_for(edge.url) as client:
        got = await read_muxed(client, f"{rid}:0", timeout_s=15)
        assert got.status == 410, got.body
        assert orjson.loads(got.body)["error"]["code"] == "not_retained"
