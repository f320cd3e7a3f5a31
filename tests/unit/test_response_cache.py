"""The response cache without Kafka: the `cache` option's validation, the hash a hit is found by,
the store's lookup on SQLite and PostgreSQL, the index record's mark, and the replay (what a
stored log yields per call, and its recorded pace on a fake clock)."""

from __future__ import annotations

from typing import Any

import pytest

from agents import cached
from agents.models.base import Citation, Limits, ToolCall
from agents.running import run_response
from app import events
from app.cache import FULL, RECORDED, CacheAsk, CacheHit, hit_of, parse
from app.contract import index, requests
from app.contract.requests import Call
from app.errors import BadRequest, UpstreamError
from app.request.calls import parse_calls
from app.storage.records import RAW, StoredResponse, request_hash
from app.storage.store import Store
from app.summary import Tally


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (None, None),
        (False, None),
        (True, CacheAsk(FULL)),
        ({}, CacheAsk(FULL)),
        ({"pace": "full"}, CacheAsk(FULL)),
        ({"pace": "recorded"}, CacheAsk(RECORDED)),
    ],
)
def test_cache_option(value: Any, want: CacheAsk | None) -> None:
    body = {"model": "demo"} if value is None else {"model": "demo", "cache": value}
    assert parse(body) == want


@pytest.mark.parametrize(
    "value", ["yes", 1, 0, [], {"pace": "slow"}, {"pace": None}, {"pace": "full", "ttl": 5}]
)
def test_a_malformed_cache_option_is_refused(value: Any) -> None:
    with pytest.raises(BadRequest):
        parse({"model": "demo", "cache": value})


def test_the_hit_travels_in_the_request_record() -> None:
    hit = CacheHit("r1", RECORDED)
    record = requests.Request("r2", [], cache_hit=hit.to_dict()).encode()
    assert hit_of(requests.decode(record).cache_hit) == hit
    assert hit_of(None) is None
    for bad in ({"rid": ""}, {"rid": 3}, {"rid": "r1", "pace": "x"}, "r1"):
        assert hit_of(bad) is None  # generated as usual


def _hash(body: dict[str, Any]) -> str:
    return request_hash({"calls": [c.to_dict() for c in parse_calls(body, 8)]})


def test_the_hash_is_the_calls_only() -> None:
    body = {"model": "demo", "input": "hi", "params": {"tokens": 5, "rate": 0}}
    same = {"params": {"rate": 0, "tokens": 5}, "input": "hi", "model": "demo"}
    assert _hash(body) == _hash(same)
    # Views and the cache option decide what is made of the answer, not its text.
    assert _hash(body) == _hash({**body, "views": ["sentences"], "cache": True})
    assert _hash(body) != _hash({**body, "params": {"tokens": 6, "rate": 0}})
    assert _hash(body) != _hash({**body, "input": "hi!"})
    # What the persist agent stores for the original (its request record) hashes the same.
    stored = {"rid": "x", "calls": [c.to_dict() for c in parse_calls(body, 8)], "views": ["a"]}
    assert request_hash(stored) == _hash(body)


def test_index_records_carry_the_mark() -> None:
    record = index.IndexRecord("r2", "open", 1, 1.0, 1.0, cached_from="r1")
    assert index.decode(record.encode()) == record
    plain = index.IndexRecord("r3", "open", 1, 1.0, 1.0)
    assert b"cached_from" not in plain.encode() and index.decode(plain.encode()) == plain


# --- the store's lookup, on both backends ---

NOW = 1_700_000_000_000.0
CALLS = [{"source": "answer", "model": "demo", "messages": [], "params": {}}]


def stored(rid: str, finished_ms: float, **changes: Any) -> StoredResponse:
    base: dict[str, Any] = dict(
        id=rid, status="done", partition=0, created_ms=finished_ms - 100,
        first_token_ms=finished_ms - 50, finished_ms=finished_ms, models={"answer": "demo"},
        request={"rid": rid, "calls": CALLS}, sources={"answer": "x"}, usage=None, error=None,
        views=(), last_seq=2, logs={RAW: [b"{}"]},
    )  # fmt: skip
    base.update(changes)
    return StoredResponse(**base)


async def test_latest_done_within_the_ttl(store: Store) -> None:
    h = request_hash({"calls": CALLS})
    assert await store.latest_done(h, NOW - 1000) is None
    other = [{**CALLS[0], "params": {"tokens": 3}}]
    await store.put([
        stored("old", NOW - 5000),
        stored("a", NOW - 900),
        stored("b", NOW - 500),
        stored("failed", NOW - 100, status="error", error={"code": "upstream_error"}),
        stored("cancelled", NOW - 100, status="cancelled"),
        stored("partial", NOW - 100, complete=False, missing="events"),
        stored("other", NOW - 100, request={"rid": "other", "calls": other}),
        stored("sdk", NOW - 100, request=None),
        # A cached copy is never served: its answer is as old as its original.
        stored("copy", NOW - 50, request={"rid": "copy", "calls": CALLS,
                                          "cache_hit": {"rid": "b", "pace": "full"}}),
    ])  # fmt: skip
    assert await store.latest_done(h, NOW - 1000) == "b"
    assert await store.latest_done(h, NOW - 10_000) == "b"
    assert await store.latest_done(h, NOW - 400) is None  # past the TTL
    assert (await store.get("copy")).cached_from == "b"  # type: ignore[union-attr]
    assert (await store.get("b")).cached_from is None  # type: ignore[union-attr]


# --- the replay ---


def log(*specs: tuple[str, str, float, dict[str, Any]]) -> list[bytes]:
    return [
        events.encode(events.Event(rid="orig", type=t, source=s, seq=i, ts=ts, **extra))
        for i, (t, s, ts, extra) in enumerate(specs, 1)
    ]


STORED = log(
    ("delta", "answer", 1000.0, {"text": "Hel"}),
    ("delta", "side", 1100.0, {"text": "x"}),
    ("delta", "answer", 1300.0, {"text": "lo"}),
    ("tool_call", "answer", 1300.5, {"call_id": "c1", "name": "f", "arguments": {"a": 1}}),
    ("citation", "answer", 1301.0, {"ref": {"url": "u"}}),
    ("source.done", "side", 1302.0, {"model": "demo"}),
    ("delta", "answer", 9000.0, {"text": "!"}),  # a long pause: capped
    ("source.done", "answer", 9001.0, {"model": "demo"}),
    ("done", "answer", 9002.0, {}),
    ("delta", "answer", 9003.0, {"text": "after the end: never"}),
)


def test_the_plan_per_source_at_full_speed() -> None:
    plan = cached.plan(STORED, FULL)
    assert plan == {
        "answer": [(0.0, "Hel"), (0.0, "lo"), (0.0, ToolCall("c1", "f", {"a": 1})),
                   (0.0, Citation({"url": "u"})), (0.0, "!")],
        "side": [(0.0, "x")],
    }  # fmt: skip


def test_the_recorded_pace_keeps_the_gaps_capped() -> None:
    plan = cached.plan(STORED, RECORDED)
    dues = [round(d, 4) for d, _ in plan["answer"]]
    assert dues == [0.0, 0.3, 0.3005, 0.301, 0.302 + cached.MAX_GAP_S]
    assert [round(d, 4) for d, _ in plan["side"]] == [0.1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(round(s, 4))
        self.now += s


async def test_the_replay_sleeps_until_each_event_is_due() -> None:
    clock = FakeClock()
    answer = cached.StoredAnswer(cached.plan(STORED, RECORDED), clock, clock.sleep)
    got = [item async for item in answer.stream(Call("answer", "demo", ()))]
    assert got[0] == "Hel" and got[-1] == "!"
    assert clock.sleeps == [0.3, 0.0005, 0.0005, 0.001 + cached.MAX_GAP_S]
    # The next call shares the first one's time zero: its due event is long past.
    assert [i async for i in answer.stream(Call("side", "demo", ()))] == ["x"]
    assert len(clock.sleeps) == 4


class Writer:
    rid = "copy"

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.tally = Tally()

    async def delta(self, text: str, source: str = "answer") -> None:
        self.log.append(("delta", source, text))

    async def tool_call(self, call_id: str, name: str, arguments: Any, source: str) -> None:
        self.log.append(("tool_call", source, name))

    async def citation(self, ref: dict[str, Any], source: str) -> None:
        self.log.append(("citation", source, ref))

    async def source_done(self, source: str = "answer", **known: Any) -> None:
        self.log.append(("source.done", source, known["usage"]))

    async def done(self) -> None:
        self.log.append(("done",))


async def test_run_response_writes_the_stored_answer_without_a_model() -> None:
    answer = cached.StoredAnswer(cached.plan(STORED, FULL))
    writer = Writer()
    calls = [Call("answer", "demo", ()), Call("side", "demo", ())]
    limits = Limits(first_token_s=5, idle_s=5, deadline_s=30)
    await run_response(writer, calls, answer.adapter, limits, lambda: False)  # type: ignore[arg-type]
    text = "".join(e[2] for e in writer.log if e[0] == "delta" and e[1] == "answer")
    assert text == "Hello!"
    assert ("tool_call", "answer", "f") in writer.log
    assert ("citation", "answer", {"url": "u"}) in writer.log
    # No tokens were spent: no usage on source.done; one done at the end.
    assert sorted(e for e in writer.log if e[0] == "source.done") == [
        ("source.done", "answer", None), ("source.done", "side", None)
    ]  # fmt: skip
    assert writer.log[-1] == ("done",)


class Gone:
    async def log(self, rid: str, stream: str = "") -> list[bytes] | None:
        return None


class Broken:
    async def log(self, rid: str, stream: str = "") -> list[bytes] | None:
        raise OSError("connection refused")


@pytest.mark.parametrize("store", [None, Gone(), Broken()])
async def test_an_unreadable_answer_is_a_retriable_error(store: Any) -> None:
    with pytest.raises(UpstreamError) as caught:
        await cached.load(store, CacheHit("orig"))
    assert caught.value.code == "cache_unavailable" and caught.value.retriable
