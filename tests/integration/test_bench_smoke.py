"""The benchmark harness does not rot: `python -m bench --smoke` runs every scenario once at toy
sizes against the session's real broker (worker, edge, baseline, Redis and the Node peer as real
processes), on both of tokenrelay's paths (responses created with POST /v1/responses and made
by the demo model; tokens published with the SDK), and the results it writes have the right
shape, exact token counts and positive CPU per token. Timings are never asserted: they belong
to `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def results(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--kafka",
            broker.bootstrap,
            "--broker-dir",
            str(broker.dir),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"bench --smoke failed:\n{done.stdout}\n{done.stderr[-6000:]}"
    return out


def load(out: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    return data


def check_run(run: dict[str, Any], systems: list[str]) -> None:
    assert "error" not in run, run
    assert run["system"] in systems
    assert run["connected"] == run["readers"] > 0, run
    assert run["completed"] == run["readers"], run  # every reader reached the terminal event
    assert run["gaps"] == 0 and not run["errors"] and run["mismatched"] == 0, run
    # Every token of every response reached its reader, with exactly the text it was written.
    assert run["tokens"] == run["tokens_expected"] > 0 and run["exact"] == run["readers"], run
    assert run["delivered_tokens_s"] > 0 and run["latency"]["count"] > 0
    assert run["deltas"] <= run["tokens"]  # coalescing may join tokens, never split one
    # psutil counts CPU in 10 ms ticks: a toy run of the baseline may round to none.
    assert run["cpu_us_per_token_server"] >= 0, run
    if run["system"].startswith("tokenrelay"):
        assert run["cpu_us_per_token_server"] > 0, run
    lat = run["latency"]
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["p999_ms"] <= lat["max_ms"]
    if "hist" in run:
        assert run["hist"] and all(int(n) > 0 for n in run["hist"].values())
    assert {"cpu_pct", "loop_lag_p99_ms", "bottleneck", "lagging"} <= set(run["loadgen"][0])


def test_latency_and_fanout_runs_cover_every_system(results: Path) -> None:
    run = load(results, "run")
    systems, mode = run["systems"], run["mode"]
    assert systems == ["tokenrelay", "tokenrelay-sdk", "baseline", "peer"]
    for name, sizes, key, measured in (
        ("latency", mode["loads"], "responses", systems),
        ("fanout", mode["fanouts"], "readers", [s for s in systems if s != "tokenrelay-sdk"]),
    ):
        runs = load(results, name)["runs"]
        assert sorted((r["system"], r[key]) for r in runs) == sorted(
            (s, n) for s in measured for n in sizes
        )
        for r in runs:
            check_run(r, systems)
    latency = {r["system"]: r for r in load(results, "latency")["runs"]}
    server = {
        "tokenrelay": ["broker", "worker", "edge"],
        "tokenrelay-sdk": ["broker", "worker", "edge", "loadgen-produce"],
        "baseline": ["baseline"],
        "peer": ["redis", "peer-producer", "peer-edge"],
    }
    for system, processes in server.items():
        r = latency[system]
        assert r["server_side"] == processes, r["server_side"]
        for process in [*processes, "loadgen-read0"]:
            assert r["cpu"][process]["cpu_s"] >= 0 and process in r["cpu_us_per_token"], process
    # The POST path's responses were made by the demo model (ids the edge chose).
    assert latency["tokenrelay"]["plan"]["post_ms"] > 0


def test_throughput_steps_report_cpu_per_process(results: Path) -> None:
    data = load(results, "throughput")
    assert len(data["steps"]) >= 1
    for step in data["steps"]:
        check_run(step, ["tokenrelay"])
        assert isinstance(step["pass"], bool)
        assert step["offered_tokens_s"] > 0
        assert {"broker", "worker", "edge"} <= set(step["cpu_us_per_token"])


def test_resume_and_replay_are_exact(results: Path) -> None:
    mode = load(results, "run")["mode"]
    data = load(results, "resume")
    for system in ("tokenrelay", "peer"):
        reconnect = data["reconnect"][system]
        assert reconnect["reconnects"] == mode["resume_reps"], reconnect
        assert reconnect["wrong_first_seq"] == 0
        assert len(reconnect["samples_ms"]) == mode["resume_reps"]
        for run in data["replay"][system]["runs"]:
            assert run["status"] == 200 and run["gaps"] == 0, run
            assert run["events"] == mode["replay_events"], run
            assert run["first_event_ms"] is not None and run["terminal_ms"] is not None


def test_ttft_connections_and_report(results: Path) -> None:
    run = load(results, "run")
    mode = run["mode"]
    assert mode["name"] == "smoke" and run["machine"]["cores"] >= 1
    ttft = load(results, "ttft")["systems"]
    for system in ("tokenrelay", "baseline"):
        assert len(ttft[system]["samples_ms"]) == mode["ttft_reps"]
    conns = load(results, "connections")
    assert conns["opened"] == conns["still_open_at_release"] == mode["connections"], conns
    assert conns["edge_rss_mb_held"] > 0
    readme = (results / "README.md").read_text()
    for heading in (
        "# Benchmark results",
        "## Issue 8: before and now",
        "### CPU per delivered token",
        "## 1. Added latency",
        "## 2. Throughput",
        "## 3. Connections",
        "## 4. Resume",
        "## 5. Time to first token",
    ):
        assert heading in readme


def test_only_a_full_run_writes_the_results_page() -> None:
    from bench.__main__ import OUT, RESULTS

    assert OUT["full"] == RESULTS
    assert OUT["quick"] not in (None, RESULTS) and OUT["smoke"] is None
