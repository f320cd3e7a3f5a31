"""One benchmark run: start the broker, tokenrelay, the baseline and the peer; run the scenarios
in order; write bench/results/*.json, the plots and README.md; stop everything it started,
whatever happens. Logs of every process stay in a temp dir, printed when something fails."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import machine
from bench.config import TOKENRELAY, Mode
from bench.context import Context
from bench.procs import Children, raise_nofile
from bench.scenarios import connections, load, profile, resume, throughput, ttft, views
from bench.stack import Baseline, Broker, Peer, TokenRelay
from bench.systems import (
    BaselineSystem,
    PeerSystem,
    System,
    TokenRelayPostSystem,
    TokenRelaySdkSystem,
)

WARM_RESPONSES = 20  # on the POST path: broker, worker and edge all warm up
Scenario = Callable[[Context], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {
    "latency": load.latency,
    "fanout": load.fanout,
    "throughput": throughput.run,
    "resume": resume.run,
    "ttft": ttft.run,
    "views": views.run,
    "connections": connections.run,
    "profile": profile.run,
}


async def run(
    mode: Mode,
    out: Path,
    *,
    kafka: str | None,
    broker_dir: str | None,
    systems: tuple[str, ...],
    only: tuple[str, ...],
    keep_logs: bool = False,
) -> int:
    began = time.monotonic()
    nofile = raise_nofile()
    workdir = Path(tempfile.mkdtemp(prefix="tokenrelay-bench-"))
    children = Children(workdir / "logs")
    ok = False
    try:
        broker = Broker(children, kafka, broker_dir)
        await broker.start()
        stack = TokenRelay(children, broker.bootstrap, workdir)
        baseline, peer = Baseline(children), Peer(children, workdir)
        starts = {"tokenrelay": stack.start(), "baseline": baseline.start(), "peer": peer.start()}
        wanted = {"tokenrelay" if name in TOKENRELAY else name for name in systems}
        await asyncio.gather(*(starts.pop(name) for name in wanted))
        for unused in starts.values():
            unused.close()
        available: dict[str, System] = {
            "tokenrelay": TokenRelayPostSystem(stack, broker, mode.post_lead_ms),
            "tokenrelay-sdk": TokenRelaySdkSystem(children, stack, broker),
            "baseline": BaselineSystem(baseline),
            "peer": PeerSystem(peer),
        }
        ctx = Context(
            mode, out, children, broker, stack, {name: available[name] for name in systems}
        )
        info = machine.describe()
        ctx.log(
            f"mode {mode.name}, open-files limit {nofile}, systems up after "
            f"{time.monotonic() - began:.0f}s"
        )
        if mode.jvm_warm_s > 0:
            r = await load.run_load(
                ctx,
                ctx.systems["tokenrelay"],
                responses=WARM_RESPONSES,
                readers_per=1,
                label=ctx.label("warm"),
                duration_s=mode.jvm_warm_s,
            )
            ctx.log(f"warm-up, not recorded: {load.brief(r)}")
            await load.after_run(ctx, r)
        results = ctx.results
        for name, scenario in SCENARIOS.items():
            if not only or name in only:
                ctx.log(f"scenario {name}")
                results[name] = await scenario(ctx)
        elapsed = round(time.monotonic() - began, 1)
        ctx.write(
            "run",
            {
                "mode": dataclasses.asdict(mode),
                "machine": info,
                "elapsed_s": elapsed,
                "systems": list(systems),
                "scenarios": list(results),
            },
        )
        from bench import report

        report.write(out, mode, info, results, elapsed)
        if mode.plots:
            from bench import plots

            plots.write(out, results)
        ctx.log(f"done in {elapsed:.0f}s; results in {out}/README.md")
        ok = True
        return 0
    finally:
        children.close()
        if ok and not keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            why = "kept as asked" if ok else "failed or interrupted"
            print(f"bench: {why}; process logs are in {workdir / 'logs'}")
