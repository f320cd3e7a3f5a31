"""Analytics on real Kafka, worker and edge: source.done carries model and usage, the stats agent
counts responses per model (done, cancelled, failing), the edge serves them at GET /v1/stats and
/metrics, and the example analytics job (examples/analytics_consumer.py) reads the same figures
from <prefix>.events in a group of its own."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.upstream import FakeUpstream

from .procs import REPO, Edge, Stack, settings_env
from .sse import assert_contiguous, client_for, create, create_demo, read_all, read_events

pytestmark = pytest.mark.integration

STATS_WAIT_S = 30.0


@pytest.fixture(scope="module")
def gen_settings(fake: FakeUpstream) -> dict[str, Any]:
    """The fake upstreams without keys."""
    return {"openai_base_url": f"{fake.url}/v1", "anthropic_base_url": fake.url}


@pytest.fixture(scope="module")
def stats_stack(gen_stack: Stack) -> tuple[Stack, Edge]:
    return gen_stack, next(p for p in gen_stack.procs if isinstance(p, Edge))


async def one_call(client: httpx.AsyncClient, model: str, prompt: str = "hi") -> str:
    return await create(client, {"calls": [{"source": "answer", "model": model, "input": prompt}]})


async def stats_when(client: httpx.AsyncClient, ready: Any, query: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + STATS_WAIT_S
    while True:
        got = (await client.get(f"/v1/stats{query}")).json()
        if ready(got["models"]) or time.monotonic() > deadline:
            return dict(got)
        await asyncio.sleep(0.3)


async def test_stats_per_model_on_the_edge_and_in_the_example_job(
    stats_stack: tuple[Stack, Edge], tmp_path: Path
) -> None:
    stack, edge = stats_stack
    async with client_for(edge.url) as client:
        done = [await create_demo(client, tokens=20, rate=2000) for _ in range(2)]
        openai_ok = await one_call(client, "openai/text")
        limited = await one_call(client, "openai/http429")
        overloaded = await one_call(client, "anthropic/http529")
        slow = await create_demo(client, tokens=5000, rate=100)
        assert (await read_events(client, slow, limit=3)).status == 200
        assert (await client.post(f"/v1/responses/{slow}/cancel")).status_code == 202

        reads = {rid: await read_all(client, rid, timeout_s=30) for rid in [*done, openai_ok]}
        for got in reads.values():
            assert_contiguous(got.events)
        for rid, code in ((limited, "rate_limited"), (overloaded, "upstream_unavailable")):
            got = await read_all(client, rid, timeout_s=30)
            assert got.events[-1].type == "error" and got.events[-1].data["code"] == code
        cancelled = await read_all(client, slow, timeout_s=30)
        assert cancelled.events[-1].type == "cancelled"

        # source.done carries the call's model, usage and timings
        (demo_done,) = [e.data for e in reads[done[0]].events if e.type == "source.done"]
        assert demo_done["model"] == "demo"
        assert demo_done["usage"]["output_tokens"] == 20
        assert 0 <= demo_done["first_token_ms"] <= demo_done["duration_ms"]
        (openai_done,) = [e.data for e in reads[openai_ok].events if e.type == "source.done"]
        assert openai_done["model"] == "openai/text"
        assert (openai_done["usage"]["input_tokens"], openai_done["usage"]["output_tokens"]) == (
            19,
            27,
        )
        assert openai_done["usage"]["raw"]["total_tokens"] == 46

        def complete(models: dict[str, Any]) -> bool:
            want = {"demo": 3, "openai/text": 1, "openai/http429": 1, "anthropic/http529": 1}
            return all(
                models.get(m, {}).get("total", {}).get("responses") == n for m, n in want.items()
            )

        got = await stats_when(client, complete)
        models = got["models"]
        assert complete(models), orjson.dumps(got, option=orjson.OPT_INDENT_2).decode()
        demo = models["demo"]["total"]
        assert (demo["cancels"], demo["errors"], demo["output_tokens"]) == (1, {}, 40)
        assert demo["ttft_ms"]["count"] == 3 and demo["ttft_ms"]["p50"] is not None
        assert demo["tokens_per_s"] is not None and demo["tokens_per_s"] > 0
        assert models["openai/text"]["total"]["output_tokens"] == 27
        assert models["openai/text"]["total"]["ttft_ms"]["p95"] is not None
        assert models["openai/http429"]["total"]["errors"] == {"rate_limited": 1}
        assert models["anthropic/http529"]["total"]["errors"] == {"upstream_unavailable": 1}
        assert got["total"]["responses"] == 6
        assert models["demo"]["minutes"] and models["demo"]["minutes"][-1]["minute"].endswith("Z")
        one = (await client.get("/v1/stats?minutes=1")).json()
        assert one["window_minutes"] == 1
        for bad in ("0", "x", "100000"):
            resp = await client.get(f"/v1/stats?minutes={bad}")
            assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_request"

        metrics = (await client.get("/metrics")).text
        assert 'tokenrelay_model_responses_total{model="demo"} 3.0' in metrics
        assert 'tokenrelay_model_cancels_total{model="demo"} 1.0' in metrics
        assert (
            'tokenrelay_model_errors_total{code="rate_limited",model="openai/http429"} 1.0'
            in metrics
        )
        assert 'tokenrelay_model_ttft_seconds_count{model="demo"} 3.0' in metrics
        assert 'tokenrelay_model_ttft_seconds_bucket{le="+Inf",model="openai/text"} 1.0' in metrics

    # The outside job: its own group, the same figures from the events themselves.
    job = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "examples.analytics_consumer", "--group", "it-analytics"),
        *("--from-beginning", "--idle-s", "4"),
        cwd=REPO,
        env=settings_env(stack.settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(job.communicate(), 120)
    assert job.returncode == 0, err.decode()[-3000:]
    report = orjson.loads(out)
    assert report["in_progress"] == 0 and report["ignored"] == 0
    assert report["responses"] >= 6  # 6, and whatever this module's other tests made
    assert report["models"]["demo"]["calls"] == 2  # the cancelled call never finished
    assert report["models"]["demo"]["output_tokens"] == 40
    assert report["models"]["openai/text"]["output_tokens"] == 27
    assert report["models"]["openai/text"]["ttft_ms_p50"] is not None
    assert report["models"]["demo"]["chars"] == sum(
        len(e.text) for rid in done for e in reads[rid].events if e.type == "delta"
    )


async def test_bad_records_on_the_stats_topic_never_crash_the_edge(
    stats_stack: tuple[Stack, Edge],
) -> None:
    from confluent_kafka import Producer

    stack, edge = stats_stack
    producer = Producer({"bootstrap.servers": stack.settings.kafka})
    for value in (b"not json", b"[]", b'{"v":1,"model":"x","minute":"soon"}', None):
        producer.produce(stack.settings.stats_topic, value, b"junk")
    producer.flush(10)
    async with client_for(edge.url) as client:
        # A model the other test does not count: the figures after the junk still arrive.
        rid = await one_call(client, "anthropic/text")
        assert_contiguous((await read_all(client, rid, timeout_s=30)).events)
        got = await stats_when(client, lambda m: "anthropic/text" in m)
        assert got["models"]["anthropic/text"]["total"]["responses"] == 1
        assert got["models"]["anthropic/text"]["total"]["output_tokens"] == 27
        assert (await client.get("/healthz")).status_code == 200
    assert edge.alive
