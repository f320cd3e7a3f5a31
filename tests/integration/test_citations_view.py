"""The citations view on real processes: a response published with the producer SDK, its
markers split across deltas, read through the edge as `?view=citations`. (A model's own
citations reach the views through the raw stream: test_models_tool_calls.py.)"""

from __future__ import annotations

import pytest

from app.producer import Publisher, new_response_id

from .procs import Edge, Stack
from .sse import assert_contiguous, client_for, delta_text, read_all

pytestmark = pytest.mark.integration

SOURCES = [
    {"id": "kafka", "title": "Kafka docs", "url": "https://kafka.apache.org/documentation/"},
    {"id": 7, "title": "KIP-848", "url": "https://cwiki.apache.org/KIP-848"},
]
PIECES = ["Groups rebalance", " on join [", "1]. The new", " protocol [2,", " kafka] is",
          " incremental; a list [3] and [x] cite nothing", "."]  # fmt: skip


async def test_markers_split_across_deltas_become_citation_events(stack: Stack) -> None:
    await stack.worker()
    edge = await stack.edge()
    rid = new_response_id()
    async with Publisher(stack.settings) as pub, client_for(edge.url) as client:
        writer = pub.response(rid)
        await writer.open(("citations",), {"sources": SOURCES})
        for piece in PIECES:
            await writer.delta(piece)
            await writer.flush()  # one raw event per piece: markers really arrive split
        await writer.done()
        raw = await read_all(client, rid, wait_known_s=10)
        view = await read_all(client, rid, view="citations", wait_known_s=10)
    assert_contiguous(view.events)
    assert delta_text(view.events) == delta_text(raw.events) == "".join(PIECES)
    kinds = [e.type for e in view.events]
    cited = [e.data["ref"] for e in view.events if e.type == "citation"]
    assert cited == [SOURCES[0], SOURCES[1], SOURCES[0]]
    # Each citation comes right after the delta that completes its marker.
    first = kinds.index("citation")
    assert view.events[first - 1].data["text"].endswith("1]")
    assert delta_text(view.events[:first]).endswith("[1]")
    assert view.events[-1].type == "done" and view.events[-1].data["raw_seq"] == raw.events[-1].seq


async def test_a_bad_sources_list_is_a_400(shared: tuple[Stack, Edge]) -> None:
    _, edge = shared
    async with client_for(edge.url) as client:
        for bad in ([{"title": "no id"}], "kafka", [{"id": "a"}, {"id": "a"}]):
            body = {"model": "demo", "input": "x", "views": ["citations"], "sources": bad}
            got = await client.post("/v1/responses", json=body)
            assert got.status_code == 400, bad
            assert got.json()["error"]["code"] == "bad_request"
