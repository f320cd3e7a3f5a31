"""Model, usage and timings: each upstream's usage normalised, `source.done`'s fields on the wire
(golden bytes), the run of a call that fills them, and the terminal index record's summary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from httpx_sse import ServerSentEvent

from agents.models.anthropic_messages import MessageStream
from agents.models.base import Item, Limits
from agents.models.demo import DemoModel
from agents.models.openai_chat import ChatStream
from agents.running import run_call, run_response
from app import events
from app.contract import index
from app.contract.requests import Call
from app.errors import DecodeError, UpstreamUnavailable
from app.events import Event
from app.summary import Summary
from app.usage import Usage, from_anthropic, from_openai
from tests.fakes import wire
from tests.unit.test_writer import Recording, tick

LIMITS = Limits(first_token_s=5, idle_s=5, deadline_s=30)


def sse(raw: bytes) -> list[ServerSentEvent]:
    """The SSE events of one wire transcript chunk (`event:`/`data:` lines)."""
    out = []
    for block in raw.decode().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line
        )  # fmt: skip
        if "data" in fields:
            out.append(ServerSentEvent(event=fields.get("event", "message"), data=fields["data"]))
    return out


def test_openai_usage_is_normalised_and_kept_raw() -> None:
    parser = ChatStream()
    for chunk in wire.openai_stream("gpt-x", ["a", "b"]):
        for event in sse(chunk):
            parser.feed(event)
    usage = parser.reported()
    assert usage == Usage(19, 27)
    assert usage is not None and usage.raw is not None and usage.raw["total_tokens"] == 46
    assert usage.to_wire()["raw"]["completion_tokens"] == 27


def test_anthropic_usage_counts_cached_input_and_the_final_output() -> None:
    parser = MessageStream()
    for chunk in wire.anthropic_stream("claude-x", ["a", "b"]):
        for event in sse(chunk):
            parser.feed(event)
    assert parser.reported() == Usage(21, 27)
    raw = {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 9}
    assert from_anthropic(raw) == Usage(105, 9)


def test_usage_without_counts() -> None:
    assert from_openai(None) is None and from_anthropic({}) is None
    assert from_openai({"prompt_tokens": None, "completion_tokens": True}) == Usage(0, 0)


async def test_the_demo_model_reports_its_own_counts_last() -> None:
    call = Call("answer", "demo", ({"role": "user", "content": "three word prompt"},),
                {"tokens": 7, "rate": 0})  # fmt: skip
    items = [i async for i in DemoModel(10, 0, 0).stream(call)]
    assert items[-1] == Usage(3, 7)
    assert all(type(i) is str for i in items[:-1]) and len(items) == 8


@pytest.mark.parametrize(
    ("event", "golden"),
    [
        (
            Event(
                "r1",
                "source.done",
                "answer",
                7,
                1.5,
                model="demo",
                usage={"input_tokens": 3, "output_tokens": 40},
                first_token_ms=12.5,
                duration_ms=800.0,
            ),  # fmt: skip
            b'{"rid":"r1","source":"answer","seq":7,"type":"source.done","ts":1.5,'
            b'"model":"demo","usage":{"input_tokens":3,"output_tokens":40},'
            b'"first_token_ms":12.5,"duration_ms":800.0}',
        ),
        (  # a producer-SDK writer that knows nothing of a model: as before
            Event("r1", "source.done", "answer", 7, 1.5),
            b'{"rid":"r1","source":"answer","seq":7,"type":"source.done","ts":1.5}',
        ),
        (  # the fields belong to source.done only: a delta never carries them
            Event("r1", "delta", "answer", 2, 1.5, "hi", model="demo", duration_ms=1.0),
            b'{"rid":"r1","source":"answer","seq":2,"type":"delta","ts":1.5,"text":"hi"}',
        ),
    ],
)
def test_source_done_fields_golden_bytes(event: Event, golden: bytes) -> None:
    assert events.encode(event) == golden
    back = events.decode(golden)
    assert (back.model, back.usage, back.first_token_ms, back.duration_ms) == (
        (event.model, event.usage, event.first_token_ms, event.duration_ms)
        if event.type == "source.done"
        else (None, None, None, None)
    )


def test_a_delta_is_never_read_for_them() -> None:
    raw = b'{"rid":"r","source":"a","seq":1,"type":"delta","ts":1,"text":"x","usage":7}'
    assert events.decode(raw).usage is None  # not even checked: decoding a delta skips them


@pytest.mark.parametrize(
    "bad", [{"model": 3}, {"usage": [1]}, {"first_token_ms": "1"}, {"duration_ms": True}]
)
def test_source_done_with_a_wrong_field_is_undecodable(bad: dict[str, object]) -> None:
    obj = {"rid": "r", "source": "a", "seq": 1, "type": "source.done", "ts": 1, **bad}
    with pytest.raises(DecodeError):
        events.decode(orjson.dumps(obj))


class Model:
    """Two pieces after a delay, then its usage."""

    def stream(self, call: Call) -> AsyncIterator[Item]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[Item]:
        await asyncio.sleep(0.05)
        yield ""  # output that is not text yet: not the first token
        yield "Hel"
        yield "lo"
        yield Usage(4, 2)


class Failing:
    def stream(self, call: Call) -> AsyncIterator[Item]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[Item]:
        yield "x"
        raise UpstreamUnavailable("overloaded")


async def test_run_call_writes_model_usage_and_timings_on_source_done() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    call = Call("answer", "demo-x", ({"role": "user", "content": "x"},))
    task = asyncio.create_task(run_call(writer, call, lambda _: Model(), LIMITS))
    while not task.done():
        await tick()
        pub.ack()
        await asyncio.sleep(0.01)
    await task
    await pub.drive(asyncio.create_task(writer.done()))
    done = next(e for e in pub.events() if e["type"] == "source.done")
    assert done["model"] == "demo-x"
    assert done["usage"] == {"input_tokens": 4, "output_tokens": 2}
    assert 45 <= done["first_token_ms"] <= done["duration_ms"] < 5000
    assert "".join(e.get("text", "") for e in pub.events()) == "Hello"


async def test_terminal_index_record_carries_the_responses_summary() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    writer.tally.calls.update({"a": "demo", "b": "openai/gpt"})
    await writer.delta("Hel", "a")
    await writer.delta("lo", "a")
    await tick()
    pub.ack()
    await writer.source_done("a", model="demo", usage=Usage(3, 5), first_token_ms=10.0,
                             duration_ms=510.0)  # fmt: skip
    await pub.drive(asyncio.create_task(writer.error("no", retriable=True, code="rate_limited",
                                                     source="b")))  # fmt: skip
    record = index.decode(orjson.dumps(pub.index()[-1]))
    assert record.state == "error" and record.summary is not None
    s = record.summary
    assert s["models"] == ["demo", "openai/gpt"]
    assert s["usage"] == {"input_tokens": 3, "output_tokens": 5}
    assert s["by_model"] == {"demo": {"input_tokens": 3, "output_tokens": 5, "stream_ms": 500.0}}
    assert (s["chars"], s["pieces"], s["code"], s["failed_model"]) == (5, 2, "rate_limited",
                                                                        "openai/gpt")  # fmt: skip
    assert 0 <= s["ttft_ms"] <= s["duration_ms"]
    parsed = Summary.parse(s)
    assert parsed.models == ("demo", "openai/gpt") and parsed.by_model["demo"].output_tokens == 5
    assert parsed.failed_model == "openai/gpt" and parsed.ttft_ms == s["ttft_ms"]
    assert [r.get("summary") for r in pub.index()[:-1]] == [None]  # only the terminal one


async def test_a_failed_response_names_its_failing_calls_model() -> None:
    pub = Recording()
    await pub.start()
    writer = pub.response("r1")
    calls = [Call("ok", "good", ()), Call("bad", "flaky", ())]
    models = {"good": Model(), "flaky": Failing()}
    task = asyncio.create_task(
        run_response(writer, calls, lambda m: models[m], LIMITS, lambda: False)  # type: ignore[arg-type, index]
    )
    while not task.done():
        await tick()
        pub.ack()
        await asyncio.sleep(0.01)
    summary = Summary.parse(pub.index()[-1]["summary"])
    assert summary.code == "upstream_unavailable" and summary.failed_model == "flaky"
    assert summary.models == ("good", "flaky")


@pytest.mark.parametrize("junk", [None, 3, [], {"models": "x", "by_model": [1], "ttft_ms": -1}])
def test_a_summary_that_is_not_one_reads_as_empty(junk: object) -> None:
    s = Summary.parse(junk)
    assert s.models == () and s.by_model == {} and s.ttft_ms is None and s.code is None


def test_an_index_record_with_a_bad_summary_is_undecodable() -> None:
    obj = {"rid": "r", "state": "done", "partition": 0, "created": 1, "ts": 2, "seq": 3,
           "summary": [1]}  # fmt: skip
    with pytest.raises(DecodeError):
        index.decode(orjson.dumps(obj))
