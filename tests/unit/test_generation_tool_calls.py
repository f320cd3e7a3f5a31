"""Tool calls and citations from an adapter to the raw stream: run_call writes each item with
the writer's own method, in order between the deltas, and the writer encodes them as events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from agents.models.base import Citation, Item, Limits, ToolCall
from agents.running import run_call
from app import events
from app.contract.requests import Call
from tests.unit.test_writer import Recording, tick

LIMITS = Limits(first_token_s=5, idle_s=5, deadline_s=30)
REF = {"type": "char_location", "cited_text": "x", "document_index": 0}
ITEMS: list[Item] = [
    "Let me ",
    "",  # tool-call arguments being assembled: nothing to write
    "check.",
    ToolCall("call_1", "get_weather", {"location": "Köln"}),
    ToolCall("call_2", "get_time", "{not json"),
    "It is cited",
    Citation(REF),
    " here.",
]


class Model:
    def stream(self, call: Call) -> AsyncIterator[Item]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[Item]:
        for item in ITEMS:
            yield item
            await asyncio.sleep(0)


class Writer:
    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    async def delta(self, text: str, source: str = "answer") -> None:
        if text:
            self.log.append(("delta", source, text))

    async def tool_call(self, call_id: str, name: str, arguments: Any, source: str) -> None:
        self.log.append(("tool_call", source, call_id, name, arguments))

    async def citation(self, ref: dict[str, Any], source: str) -> None:
        self.log.append(("citation", source, ref))

    async def source_done(self, source: str = "answer", **known: Any) -> None:
        self.log.append(("source.done", source))


async def test_run_call_writes_each_item_with_its_method_in_order() -> None:
    writer = Writer()
    call = Call("tools", "m", ({"role": "user", "content": "x"},))
    await run_call(writer, call, lambda _: Model(), LIMITS)  # type: ignore[arg-type]
    assert writer.log == [
        ("delta", "tools", "Let me "),
        ("delta", "tools", "check."),
        ("tool_call", "tools", "call_1", "get_weather", {"location": "Köln"}),
        ("tool_call", "tools", "call_2", "get_time", "{not json"),
        ("delta", "tools", "It is cited"),
        ("citation", "tools", REF),
        ("delta", "tools", " here."),
        ("source.done", "tools"),
    ]


async def test_writer_puts_tool_calls_and_citations_between_deltas_with_contiguous_seq() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    await writer.delta("a", "answer")
    await writer.tool_call("call_1", "f", {"x": [1, 2]}, "answer")
    await writer.delta("b", "answer")
    await writer.citation(REF, "answer")
    await tick()
    pub.ack()
    await tick()
    await pub.drive(asyncio.create_task(writer.done()))
    got = pub.events()
    assert [e["seq"] for e in got] == [1, 2, 3, 4, 5]
    assert [e["type"] for e in got] == ["delta", "tool_call", "delta", "citation", "done"]
    assert (got[1]["call_id"], got[1]["name"], got[1]["arguments"]) == (
        "call_1",
        "f",
        {"x": [1, 2]},
    )
    assert got[3]["ref"] == REF
    decoded = events.decode(orjson.dumps(got[1]))  # what a reader gets back
    assert decoded.arguments == {"x": [1, 2]} and decoded.call_id == "call_1"
