"""Observability of a real worker and edge (docs/observability.md), on one shared stack that logs
JSON, exports traces to a receiver this test runs, and calls a model server that is down:

- metrics: one response moves every named series of both processes, by exactly what was
  streamed where the count is exact; the Grafana dashboard queries only what they export;
- traces: POST (edge) -> generate (worker) -> deliver (edge) in one trace, and an edge without
  an endpoint sends nothing and puts no context into Kafka (the negative control);
- logs: every line of both processes is JSON, and the lines about a failed response carry its id.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from .conftest import started
from .otlp import Receiver, Span
from .procs import Edge, Stack, free_port
from .sse import client_for, create, create_demo, read_all

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "tokenrelay.json"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Obs:
    def __init__(self, stack: Stack, receiver: Receiver, worker_port: int) -> None:
        self.stack, self.receiver = stack, receiver
        self.edge = next(p for p in stack.procs if isinstance(p, Edge))
        self.worker = next(p for p in stack.procs if p.name.startswith("worker"))
        self.worker_url = f"http://127.0.0.1:{worker_port}/metrics"

    async def scrape(self) -> tuple[str, str]:
        async with httpx.AsyncClient(timeout=10.0) as c:
            edge = await c.get(f"{self.edge.url}/metrics")
            worker = await c.get(self.worker_url)
        assert edge.status_code == worker.status_code == 200
        return edge.text, worker.text


@pytest.fixture(scope="module")
def obs(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Obs]:
    receiver = Receiver().start()
    port = free_port()
    try:
        with started(
            broker, tmp_path_factory,
            worker_metrics_port=port,
            log_format="json",
            log_level="INFO",
            otlp_endpoint=receiver.url,
            openai_base_url=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
            openai_api_key="sk-test",
            edge_finished_keep_s=0.5,  # a response leaves the edge's memory: catch-up reads
        ) as stack:  # fmt: skip
            yield Obs(stack, receiver, port)
    finally:
        receiver.stop()


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def exported_names(text: str) -> set[str]:
    """Every series name a query may use, samples or not (a labelled family with no child yet
    has none)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
    }
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(s.name for s in family.samples)
    return names


def get(got: Samples, name: str, **labels: str) -> float:
    return got.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_one_response_moves_the_metrics_of_both_processes(obs: Obs) -> None:
    e0, w0 = (samples(t) for t in await obs.scrape())
    # A record no event can be made of: the edge dead-letters it and counts it once.
    producer = Producer({"bootstrap.servers": obs.stack.settings.kafka})
    producer.produce(obs.stack.settings.events_topic, b"not json", b"junk-rid")
    producer.flush(10)
    async with client_for(obs.edge.url) as c:
        rid = await create_demo(c, tokens=30, rate=600)
        n = len((await read_all(c, rid)).events)
        async with asyncio.timeout(20):  # it leaves the edge's memory (edge_finished_keep_s)
            while get(samples((await obs.scrape())[0]), "tokenrelay_edge_tracked_responses"):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        assert len((await read_all(c, rid)).events) == n  # from Kafka: a catch-up read
    async with asyncio.timeout(30):
        while True:  # the dead-letter count and the writer's end are a little behind
            edge_text, worker_text = await obs.scrape()
            e1, w1 = samples(edge_text), samples(worker_text)
            ended = "tokenrelay_worker_responses_ended_total"
            if get(e1, "tokenrelay_deadletters_total", topic="events") > get(
                e0, "tokenrelay_deadletters_total", topic="events"
            ) and get(w1, ended, type="done", code="") > get(w0, ended, type="done", code=""):
                break
            await asyncio.sleep(0.3)

    def moved(now: Samples, before: Samples, name: str, **labels: str) -> float:
        return get(now, name, **labels) - get(before, name, **labels)

    # Edge: every event read once, sent twice (live, then the catch-up), one dead letter.
    assert moved(e1, e0, "tokenrelay_edge_events_consumed_total") == n
    assert moved(e1, e0, "tokenrelay_edge_events_sent_total") == 2 * n
    assert moved(e1, e0, "tokenrelay_edge_undecodable_total") == 1
    assert moved(e1, e0, "tokenrelay_deadletters_total", topic="events") == 1
    assert moved(e1, e0, "tokenrelay_edge_catchup_reads_total") >= 1
    assert moved(e1, e0, "tokenrelay_edge_responses_created_total") == 1
    writes = moved(e1, e0, "tokenrelay_edge_delivery_latency_seconds_count")
    assert 1 <= writes <= n  # one observation per write, never more than one per event
    assert moved(e1, e0, "tokenrelay_edge_delivery_latency_seconds_sum") > 0
    assert get(e1, "tokenrelay_edge_connections") == 0
    assert ("tokenrelay_edge_consumer_lag", (("topic", "events"),)) in e1
    assert get(e1, "tokenrelay_edge_fanout_queued_events") == 0
    assert ("tokenrelay_edge_fanout_queue_max_events", ()) in e1
    assert get(e1, "process_resident_memory_bytes") > 0
    names = exported_names(edge_text)
    assert "tokenrelay_edge_subscriber_overflows_total" in names
    assert "tokenrelay_edge_readers_told_to_reconnect_total" in names
    # Worker: the same events written, one request read, one first token, one end.
    assert moved(w1, w0, "tokenrelay_worker_events_out_total") == n
    assert moved(w1, w0, "tokenrelay_worker_records_in_total", topic="requests") == 1
    assert moved(w1, w0, "tokenrelay_worker_first_token_seconds_count") == 1
    assert moved(w1, w0, "tokenrelay_worker_text_pieces_total") >= 30
    assert moved(w1, w0, ended, type="done", code="") == 1
    assert ("tokenrelay_worker_consumer_lag", (("topic", "requests"),)) in w1
    assert ("tokenrelay_worker_producer_queued_records", ()) in w1
    assert get(w1, "process_resident_memory_bytes") > 0
    assert "tokenrelay_worker_watchdog_total" in exported_names(worker_text)


async def test_the_dashboard_queries_only_what_the_processes_export(obs: Obs) -> None:
    edge_text, worker_text = await obs.scrape()
    exported = exported_names(edge_text) | exported_names(worker_text)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 12
    queried = {n for e in exprs for n in re.findall(r"\b(?:tokenrelay|process|python)_\w+", e)}
    assert queried, exprs
    assert not queried - exported, (
        f"the dashboard queries what nothing exports: {queried - exported}"
    )


def spans_of(spans: list[Span], rid: str) -> dict[str, Span]:
    return {s.name: s for s in spans if s.attributes.get("tokenrelay.rid") == rid}


async def test_a_response_is_one_trace_across_edge_and_worker(obs: Obs) -> None:
    quiet = await obs.stack.edge(otlp_endpoint="")  # the negative control: tracing off
    async with client_for(obs.edge.url) as c, client_for(quiet.url) as q:
        rid = await create_demo(c, tokens=10, rate=500)
        untraced = await create_demo(q, tokens=10, rate=500)
        await read_all(c, rid)
        await read_all(q, untraced)
    async with asyncio.timeout(30):
        while True:  # spans are exported in batches, every second
            spans = obs.receiver.snapshot()
            traced, off = spans_of(spans, rid), spans_of(spans, untraced)
            if {"POST /v1/responses", "generate", "deliver"} <= set(traced) and "generate" in off:
                break
            await asyncio.sleep(0.3)
    post, gen, deliver = traced["POST /v1/responses"], traced["generate"], traced["deliver"]
    assert post.service == deliver.service == "tokenrelay-edge"
    assert gen.service == "tokenrelay-worker"
    assert post.trace_id == gen.trace_id == deliver.trace_id
    assert gen.parent_id == post.span_id  # via the request record's headers
    assert deliver.parent_id == gen.span_id  # via the first event record's headers
    assert post.attributes["http.response.status_code"] == 201
    # The edge without an endpoint sent no span, and put no trace context into Kafka: the
    # worker's span of that response starts a trace of its own.
    assert "POST /v1/responses" not in off
    assert off["generate"].parent_id == ""
    assert not any(s.name == "POST /v1/responses" and s.trace_id == off["generate"].trace_id
                   for s in spans)  # fmt: skip


async def test_json_logs_carry_the_response_id(obs: Obs) -> None:
    async with client_for(obs.edge.url) as c:
        rid = await create(c, {"model": "openai/gpt-test", "input": "hello"})
        got = await read_all(c, rid)
    error = got.events[-1]
    assert error.type == "error", got.events
    code = str(error.data["code"])
    async with asyncio.timeout(20):
        while not any(line.get("rid") == rid for line in _lines(obs.worker.text())):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    worker, edge = _lines(obs.worker.text()), _lines(obs.edge.text())
    assert worker and edge
    for line in worker + edge:
        assert {"ts", "level", "logger", "message"} <= set(line), line
    about = [line for line in worker if line.get("rid") == rid]
    assert any(line["logger"] == "agents.running" and code in line["message"] for line in about)
    mentioning = [line for line in worker + edge if rid in line["message"]]
    assert all(line.get("rid") == rid for line in mentioning), mentioning
    _, worker_text = await obs.scrape()
    ended = ("tokenrelay_worker_responses_ended_total", (("code", code), ("type", "error")))
    assert samples(worker_text).get(ended, 0) >= 1  # the upstream error, by its code


def _lines(text: str) -> list[dict[str, Any]]:
    """Every line as JSON; a line that is not fails the test with it."""
    out = []
    for raw in text.splitlines():
        if raw.strip():
            try:
                line = json.loads(raw)
            except ValueError:
                raise AssertionError(f"not a JSON log line: {raw!r}") from None
            assert isinstance(line, dict), raw
            out.append(line)
    return out
