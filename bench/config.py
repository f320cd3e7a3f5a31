"""The three run modes: `full` (`make bench`, < 20 min), `quick` (`make bench QUICK=1`, < 2 min)
and `smoke` (the harness's own test in `make test`: every code path once, at toy sizes)."""

from __future__ import annotations

from dataclasses import dataclass

SYSTEMS = ("tokenrelay", "baseline", "peer")


@dataclass(frozen=True)
class Mode:
    name: str
    warmup_s: float  # load runs before latency is recorded
    duration_s: float  # recorded part of every load run
    drain_s: float  # how long readers may still wait for the end after the schedule is over
    loads: tuple[int, ...]  # concurrent responses, one reader each
    fanouts: tuple[int, ...]  # readers of a single response
    throughput_start: int  # responses at the first throughput step
    throughput_steps: int  # at most this many steps up ...
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


FULL = Mode(
    name="full",
    warmup_s=3.0,
    duration_s=12.0,
    drain_s=5.0,
    loads=(10, 100, 500),
    fanouts=(1, 100, 1000),
    throughput_start=10,
    throughput_steps=9,
    throughput_bisect=2,
    connections=10_000,
    resume_reps=20,
    replay_events=10_000,
    ttft_reps=20,
    profile_s=15.0,
    jvm_warm_s=10.0,
)

QUICK = Mode(
    name="quick",
    warmup_s=0.75,
    duration_s=2.0,
    drain_s=2.5,
    loads=(10, 100),
    fanouts=(100,),
    throughput_start=20,
    throughput_steps=4,
    throughput_bisect=0,
    connections=1_000,
    resume_reps=6,
    replay_events=2_000,
    ttft_reps=5,
    profile_s=3.0,
    jvm_warm_s=3.0,
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
)

MODES = {m.name: m for m in (FULL, QUICK, SMOKE)}
