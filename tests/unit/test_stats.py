"""Per-model stats without Kafka: the log histogram and its merge, the aggregate of terminal index
records, the agent's table (replays not counted twice, old minutes swept, publishing), the edge's
window (partials merged, bad records skipped) and its Prometheus series."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette

from agents.stats import Stats
from app.contract import stats
from app.contract.index import IndexRecord
from app.contract.stats import Aggregate, Partial
from app.edge.routes import EXCEPTION_HANDLERS, ROUTES
from app.edge.stats import StatsWindow
from app.edge.stats_metrics import StatsCollector
from app.histogram import Histogram, bucket_of, upper_ms
from app.settings import Settings
from app.summary import Summary

NOW_MS = 1_780_000_000_000.0  # a fixed clock
MINUTE = stats.minute_of(NOW_MS)


def terminal(state: str, summary: dict[str, Any] | None, ts: float = NOW_MS) -> IndexRecord:
    return IndexRecord("r", state, 0, ts - 1000, ts, 9, summary=summary)


def summary(model: str = "demo", ttft: float = 40.0, **more: Any) -> dict[str, Any]:
    by_model = {model: {"input_tokens": 3, "output_tokens": 100, "stream_ms": 2000.0}}
    return {"models": [model], "by_model": by_model, "ttft_ms": ttft, **more}


def test_buckets_are_four_per_doubling_and_quantiles_never_underestimate() -> None:
    assert [bucket_of(ms) for ms in (0.2, 1.0, 1.01, 2.0, 2.01, 1024.0)] == [0, 0, 1, 4, 5, 40]
    values = [random.Random(7).lognormvariate(4, 1) for _ in range(2000)]
    h = Histogram()
    for v in values:
        h.add(v)
    for q in (0.5, 0.95):
        exact = sorted(values)[int(q * len(values)) - 1]
        got = h.quantile(q)
        assert got is not None and exact <= got <= exact * 2 ** (1 / 4) * 1.0001


def test_merged_histograms_equal_one_histogram_of_everything() -> None:
    values = [random.Random(3).uniform(1, 5000) for _ in range(500)]
    whole, a, b = Histogram(), Histogram(), Histogram()
    for i, v in enumerate(values):
        whole.add(v)
        (a if i % 3 else b).add(v)
    a.merge(b)
    assert a.counts == whole.counts and a.sum_ms == pytest.approx(whole.sum_ms)
    assert Histogram.from_wire(orjson.loads(orjson.dumps(a.to_wire()))) == a
    assert Histogram().quantile(0.5) is None


def test_cumulative_counts_at_bucket_bounds() -> None:
    h = Histogram()
    for ms in (0.5, 3, 3, 100):
        h.add(ms)
    got = dict(h.cumulative([upper_ms(0), upper_ms(8), upper_ms(28)]))
    assert got == {1.0: 1, 4.0: 3, 128.0: 4}


def test_an_aggregate_counts_responses_errors_cancels_ttft_and_tokens() -> None:
    agg = Aggregate()
    for record in (
        terminal("done", summary()),
        terminal("cancelled", summary(ttft=80)),
        terminal("error", summary(code="rate_limited")),
        terminal(
            "error", {"models": ["demo", "b"], "code": "upstream_error", "failed_model": "b"}
        ),  # fmt: skip
    ):
        agg.add_response(record, Summary.parse(record.summary), "demo")
    report = agg.report()
    assert (report["responses"], report["cancels"], report["errors"]) == (
        4, 1, {"rate_limited": 1},  # the other model's failure is not demo's error
    )  # fmt: skip
    assert report["ttft_ms"]["count"] == 3 and report["ttft_ms"]["p50"] >= 40
    assert report["output_tokens"] == 300 and report["tokens_per_s"] == 50.0
    assert Aggregate.from_wire(orjson.loads(orjson.dumps(agg.to_wire()))) == agg


def test_partials_round_trip_and_junk_is_refused() -> None:
    agg = Aggregate(responses=2, errors={"x": 1})
    p = Partial("openai/gpt", MINUTE, 3, agg)
    assert stats.decode(p.encode()) == p
    good = orjson.loads(p.encode())
    for junk in (
        b"",
        b"[1]",
        b"nope",
        orjson.dumps({**good, "v": 2}),
        orjson.dumps({**good, "responses": -1}),
        orjson.dumps({**good, "errors": {"x": "1"}}),
        orjson.dumps({**good, "ttft": {"b": {"999": 1}}}),
        orjson.dumps({**good, "minute": "now"}),
    ):
        with pytest.raises(ValueError):
            stats.decode(junk)


class Message:
    def __init__(self, record: IndexRecord, partition: int, offset: int) -> None:
        self.value, self.partition, self.offset = record.encode(), partition, offset


class Out:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))


async def test_the_agent_counts_terminal_records_once_and_publishes_changed_keys() -> None:
    table: dict[bytes, bytes] = {}
    out = Out()
    agent = Stats(Settings(), table, out, clock=lambda: NOW_MS / 1000)
    await agent.on_message(Message(IndexRecord("r", "open", 0, NOW_MS, NOW_MS), 0, 0))
    await agent.on_message(Message(terminal("done", summary()), 0, 1))
    await agent.on_message(Message(terminal("done", summary()), 0, 1))  # read again: no count
    # the watchdog's: no models (the writer is gone), its code only
    await agent.on_message(Message(terminal("error", {"code": "producer_lost"}), 1, 5))
    await agent.publish()
    got = {stats.decode(v).key: stats.decode(v) for _, v in out.sent}
    assert set(got) == {f"demo\x1f{MINUTE}\x1f0", f"unknown\x1f{MINUTE}\x1f1"}
    assert got[f"demo\x1f{MINUTE}\x1f0"].aggregate.responses == 1
    assert got[f"unknown\x1f{MINUTE}\x1f1"].aggregate.errors == {"producer_lost": 1}
    await agent.publish()
    assert len(out.sent) == 2  # nothing changed since


async def test_the_agent_sweeps_minutes_past_the_window() -> None:
    table: dict[bytes, bytes] = {}
    agent = Stats(Settings(stats_window_minutes=5), table, Out(), clock=lambda: NOW_MS / 1000)
    await agent.on_message(Message(terminal("done", summary(), ts=1000.0), 0, 1))  # 1970
    assert table == {}  # far past the window: not even counted
    await agent.on_message(Message(terminal("done", summary(), ts=NOW_MS - 4 * 60_000), 0, 2))
    await agent.on_message(Message(terminal("done", summary()), 0, 3))
    assert len(table) == 2
    agent.clock = lambda: NOW_MS / 1000 + 120  # two minutes on
    agent.swept.clear()
    await agent.on_message(Message(IndexRecord("s", "open", 0, NOW_MS, NOW_MS), 0, 4))
    assert list(table) == [f"0\x1fdemo\x1f{MINUTE}".encode()]


def window_with(*partials: Partial) -> StatsWindow:
    window = StatsWindow(10, clock=lambda: NOW_MS / 1000)
    for p in partials:
        window.apply(p.encode())
    return window


def agg(responses: int, ttft: float = 50.0, errors: dict[str, int] | None = None) -> Aggregate:
    a = Aggregate(responses=responses, errors=errors or {}, output_tokens=10 * responses,
                  stream_ms=100.0 * responses)  # fmt: skip
    for _ in range(responses):
        a.ttft.add(ttft)
    return a


def test_the_window_merges_partitions_and_keeps_the_latest_copy_of_each() -> None:
    window = window_with(
        Partial("demo", MINUTE, 0, agg(1)),
        Partial("demo", MINUTE, 0, agg(2)),  # a newer copy of partition 0's partial
        Partial("demo", MINUTE, 1, agg(3, errors={"rate_limited": 1})),
        Partial("demo", MINUTE - 1, 0, agg(4)),
        Partial("demo", MINUTE - 30, 0, agg(9)),  # past the window
        Partial("other/m", MINUTE, 2, agg(1, ttft=900)),
    )
    assert window.apply(b"garbage") is False and window.apply(None) is False
    assert window.skipped == 2
    report = window.report(10)
    demo = report["models"]["demo"]
    assert demo["total"]["responses"] == 9
    assert [m["responses"] for m in demo["minutes"]] == [4, 5]
    assert demo["total"]["errors"] == {"rate_limited": 1}
    assert demo["total"]["tokens_per_s"] == 100.0
    assert report["total"]["responses"] == 10
    assert window.report(1)["models"]["demo"]["total"]["responses"] == 5
    assert window.totals["demo"].responses == 9  # 1 then +1 for partition 0's newer copy


def test_metrics_have_the_per_model_series() -> None:
    window = window_with(
        Partial("demo", MINUTE, 0, agg(2, ttft=3.0, errors={"rate_limited": 1})),
        Partial("openai/gpt", MINUTE, 0, agg(1, ttft=300.0)),
    )
    registry = CollectorRegistry()
    registry.register(StatsCollector(window))
    text = generate_latest(registry).decode()
    assert 'tokenrelay_model_responses_total{model="demo"} 2.0' in text
    assert 'tokenrelay_model_errors_total{code="rate_limited",model="demo"} 1.0' in text
    assert 'tokenrelay_model_ttft_seconds_bucket{le="0.004",model="demo"} 2.0' in text
    assert 'tokenrelay_model_ttft_seconds_bucket{le="0.256",model="openai/gpt"} 0.0' in text
    assert 'tokenrelay_model_ttft_seconds_bucket{le="0.512",model="openai/gpt"} 1.0' in text
    assert 'tokenrelay_model_ttft_seconds_count{model="openai/gpt"} 1.0' in text


async def test_the_stats_endpoint_validates_minutes() -> None:
    app = Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS)
    # access None: an edge with TOKENRELAY_AUTH=off (test_edge_access.py checks the key)
    app.state.edge = SimpleNamespace(
        stats=window_with(Partial("demo", MINUTE, 0, agg(2))), access=None
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        body = (await client.get("/v1/stats")).json()
        assert body["window_minutes"] == 10 and body["total"]["responses"] == 2
        assert (await client.get("/v1/stats?minutes=3")).json()["window_minutes"] == 3
        for bad in ("0", "11", "-1", "x", "1.5"):
            resp = await client.get(f"/v1/stats?minutes={bad}")
            assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_request"


async def test_stats_minutes_in_non_ascii_digits_is_a_400_not_a_500() -> None:
    # str.isdigit() holds for "²" and "٣", and int("²") raised: a 500 (found by fuzzing the
    # edge against its OpenAPI document; docs/api.md).
    app = Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS)
    app.state.edge = SimpleNamespace(
        stats=window_with(Partial("demo", MINUTE, 0, agg(2))), access=None
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        for bad in ("²", "٣", "３", " 3", "03 "):
            resp = await client.get("/v1/stats", params={"minutes": bad})
            assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_request"

