"""The three run modes: `full` (`make bench`, < 20 min), `quick` (`make bench QUICK=1`, < 3 min)
and `smoke` (the harness's own test in `make test`: every code path once, at toy sizes)."""

from __future__ import annotations

from dataclasses import dataclass

# tokenrelay: responses created with POST /v1/responses, tokens made by the worker's demo model
# (the product's own path). tokenrelay-sdk: tokens published by a load-generator process with
# app.producer.Publisher (no worker on the path).
SYSTEMS = ("tokenrelay", "tokenrelay-sdk", "baseline", "peer")
TOKENRELAY = ("tokenrelay", "tokenrelay-sdk")


@dataclass(frozen=True)
class Mode:
    name: str
    warmup_s: float  # load runs before latency is recorded
    duration_s: float  # recorded part of every load run
    drain_s: float  # how long readers may still wait for the end after the schedule is over
    loads: tuple[int, ...]  # concurrent responses, one reader each
    fanouts: tuple[int, ...]  # readers of a single response
    throughput_start: int  # responses at the first throughput step
    throughput_steps: int  # at most this many steps up (x GROWTH, capped at throughput_max) ...
    throughput_bisect: int  # ... then this many halvings between the last pass and first fail
    connections: int  # idle SSE connections to hold on one edge
    resume_reps: int
    replay_events: int
    ttft_reps: int
    profile_s: float  # 0: no profile
    # A first, unrecorded tokenrelay load of this long: a fresh broker JVM runs slow and hot
    # (JIT compiling) for its first few thousand events.
    jvm_warm_s: float = 0.0
    plots: bool = True
    rate: float = 30.0  # tokens per second of every response
    p99_limit_ms: float = 100.0  # a throughput step passes below this
    # The throughput search: its steps' recorded window, the most delivered tokens/s it offers
    # (responses x rate), and which tokenrelay path it loads.
    throughput_duration_s: float = 8.0
    throughput_max_tokens_s: float = 30_000.0
    throughput_system: str = "tokenrelay"
    # The POST path fixes each run's start when it creates the responses: this long after the
    # first POST (plus 3 ms per response), for the POSTs and then every reader to connect.
    post_lead_ms: float = 2000.0


FULL = Mode(
    name="full",
    warmup_s=3.0,
    duration_s=12.0,
    drain_s=5.0,
    loads=(10, 100, 500),
    fanouts=(1, 100, 1000),
    throughput_start=10,
    throughput_steps=8,  # 10, 20, 40, ... 640, 1000 responses: up to 30,000 tokens/s
    throughput_bisect=3,
    connections=10_000,
    resume_reps=20,
    replay_events=10_000,
    ttft_reps=20,
    profile_s=15.0,
    jvm_warm_s=10.0,
)

QUICK = Mode(
    name="quick",
    warmup_s=1.0,
    duration_s=2.0,
    drain_s=2.5,
    loads=(10, 100),
    fanouts=(100,),
    throughput_start=50,
    throughput_steps=4,  # 50, 100, 200, 400 responses
    throughput_bisect=0,
    connections=1_000,
    resume_reps=6,
    replay_events=2_000,
    ttft_reps=5,
    profile_s=3.0,
    jvm_warm_s=3.0,
    throughput_duration_s=2.0,
    post_lead_ms=1500.0,
)

SMOKE = Mode(
    name="smoke",
    warmup_s=0.5,
    duration_s=1.5,
    drain_s=5.0,
    loads=(2,),
    fanouts=(3,),
    throughput_start=2,
    throughput_steps=1,
    throughput_bisect=0,
    connections=20,
    resume_reps=2,
    replay_events=50,
    ttft_reps=2,
    profile_s=0.0,
    plots=False,
    throughput_duration_s=1.5,
    post_lead_ms=1500.0,
)

MODES = {m.name: m for m in (FULL, QUICK, SMOKE)}
