"""`python -m bench.soak` (`make soak`): a broker, a worker and an edge under a steady load of
300 demo responses in flight for 30 minutes, sampling the worker's and the edge's memory (RSS)
and open file descriptors every 10 s; writes bench/results/soak.{json,md,png} and a verdict."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from bench import machine, memtrace
from bench.loadproc import LoadProc
from bench.procs import Children, raise_nofile, wait_until
from bench.soakreport import WINDOW_MIN, compact, write_report
from bench.stack import Broker, TokenRelay, _env, _healthy

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_S = 10.0
TICK_S = 10.0
DRAIN_S = 60.0  # after the last minute, in-flight responses get this long to end
QUIET_EXTRA_S = 30.0
# The edge's directory of finished responses is bounded (TOKENRELAY_EDGE_DIRECTORY_SIZE, 100,000
# by default, ~360 B an entry with its id: ~36 MB full). At the soak's ~700 endings a minute it
# would fill for 2.3 hours, so in 30 minutes the bounded growth by design could not be told from
# a leak. Here it is full a few minutes in, before the warm-up ends; the report says so.
DIRECTORY_SIZE = 2_000


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=float(env.get("SOAK_MINUTES", 30)))
    parser.add_argument("--responses", type=int, default=int(env.get("SOAK_RESPONSES", 300)))
    parser.add_argument("--rate", type=float, default=float(env.get("SOAK_RATE", 10)))
    parser.add_argument("--tokens", default=env.get("SOAK_TOKENS", "100,400"), help="min,max")
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=None,
        help="excluded from the verdict (default: 5, or a third of a shorter run)",
    )
    parser.add_argument(
        "--trace-edge",
        action="store_true",
        default=env.get("SOAK_TRACE_EDGE", "") not in ("", "0"),
        help="run the edge under tracemalloc (bench/memtrace.py): what grew, by source line",
    )
    parser.add_argument(
        "--edge-directory-size",
        type=int,
        default=int(env.get("SOAK_EDGE_DIRECTORY_SIZE", DIRECTORY_SIZE)),
        help="the edge's directory of finished responses (default: full before the warm-up ends)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--kafka", help="use this broker instead of starting one")
    args = parser.parse_args(argv)
    if args.warmup_minutes is None:
        args.warmup_minutes = min(5.0, args.minutes / 3)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_main(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("soak: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


async def _main(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    nofile = raise_nofile()
    workdir = Path(tempfile.mkdtemp(prefix="tokenrelay-soak-"))
    children = Children(workdir / "logs")
    tmin, tmax = (int(x) for x in args.tokens.split(","))
    info: dict[str, Any] = {
        "minutes": args.minutes,
        "responses": args.responses,
        "rate": args.rate,
        "tokens": [tmin, tmax],
        "warmup_minutes": args.warmup_minutes,
        "sample_s": SAMPLE_S,
        "machine": machine.describe(),
        "nofile": nofile,
        "edge_directory_size": args.edge_directory_size,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    _log(f"logs in {children.logdir}")
    try:
        broker = Broker(children, args.kafka, None)
        await broker.start()
        stack = TokenRelay(children, broker.bootstrap, workdir)
        await stack.start(edge_directory_size=args.edge_directory_size)
        traces = workdir / "memtrace"
        if args.trace_edge:
            await _traced_edge(children, stack, traces)
        info["trace_edge"] = args.trace_edge
        pids = stack.pids()
        _log(f"stack up: broker {broker.bootstrap}, worker {pids['worker']}, edge {pids['edge']}")
        load = LoadProc(
            children,
            "soak",
            {
                "task": "soak",
                "host": "127.0.0.1",
                "port": stack.port,
                "concurrency": args.responses,
                "rate": args.rate,
                "tokens_min": tmin,
                "tokens_max": tmax,
                "duration_s": args.minutes * 60,
                "tick_s": TICK_S,
                "drain_s": DRAIN_S,
            },
        )
        await load.start()
        procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        if broker.pid:
            procs["broker"] = psutil.Process(broker.pid)
        procs["loadgen"] = psutil.Process(load.pid)
        t0 = time.monotonic()
        samples: list[dict[str, Any]] = []
        sampler = asyncio.create_task(_sample(procs, t0, samples))
        ticks: list[dict[str, Any]] = []
        snapshots: dict[str, dict[str, float]] = {}
        span = (args.minutes - args.warmup_minutes) * 60
        baseline_end = args.warmup_minutes * 60 + min(WINDOW_MIN * 60, span / 3) + 5
        deadline = args.minutes * 60 + DRAIN_S + 120
        while True:
            got = await load.event(deadline)
            if got["event"] == "result":
                info["load_result"] = got
                break
            ticks.append(got)
            # The edge's own gauges (subscribers, rings, ...) at the end of the warm-up and of
            # the load: if memory grows, which of its maps grew with it.
            # "warm" after the verdict's baseline window, not at its start: a tracemalloc
            # snapshot pauses the edge for seconds, which must not fall inside the window.
            for when, at in (("warm", baseline_end), ("end", args.minutes * 60 - 5)):
                if when not in snapshots and got["t"] >= at:
                    snapshots[when] = await asyncio.to_thread(_edge_metrics, stack.port)
                    _trace(stack, args.trace_edge)
            if len(ticks) % 6 == 0:
                last = ticks[-6:]
                s = samples[-1] if samples else {}
                tokens_s = sum(x["tokens"] for x in last) / 60
                _log(
                    f"{got['t'] / 60:5.1f} min: {tokens_s:7.0f} tokens/s,"
                    f" {sum(x['completed'] for x in last)} ended, in flight {got['in_flight']},"
                    f" errors {sum(sum(x['errors'].values()) for x in last)};"
                    f" RSS edge {s.get('edge_rss', 0) / 2**20:.0f} / worker"
                    f" {s.get('worker_rss', 0) / 2**20:.0f} MiB; fds edge {s.get('edge_fds')}"
                    f" / worker {s.get('worker_fds')}"
                )
        # Quiet: no load, until every finished response has left the edge's memory (it keeps
        # them edge_finished_keep_s). Its per-response gauges must be back to zero: every
        # per-response map emptied itself.
        quiet_s = stack.settings.edge_finished_keep_s + QUIET_EXTRA_S
        _log(f"load ended; {quiet_s:.0f} s quiet before the idle snapshot")
        await asyncio.sleep(quiet_s)
        snapshots["idle"] = await asyncio.to_thread(_edge_metrics, stack.port)
        _trace(stack, args.trace_edge)
        info["quiet_s"] = quiet_s
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        info["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        info["load_after"] = os.getloadavg()
        data = {"info": info, "samples": samples, "ticks": ticks, "edge_metrics": snapshots}
        if args.trace_edge:
            await asyncio.sleep(10)  # the last snapshot being written
            data["memtrace"] = {
                "end": memtrace.compare(traces, 0, 1),
                "idle": memtrace.compare(traces, 0, 2),
            }
        compact(data)
        (args.out / "soak.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        flat = write_report(data, args.out)
        _log(f"wrote {args.out / 'soak.md'} and soak.png: {'flat' if flat else 'NOT flat'}")
        return 0 if flat else 1
    except BaseException:
        for child in children.procs:
            print(f"--- {child.name}\n{child.tail(30)}", file=sys.stderr)
        raise
    finally:
        children.close()


async def _sample(procs: dict[str, psutil.Process], t0: float, out: list[dict[str, Any]]) -> None:
    """Every SAMPLE_S: RSS and open fds of each process (with its children, if any)."""
    while True:
        row: dict[str, Any] = {"t": round(time.monotonic() - t0, 2), "load1": os.getloadavg()[0]}
        for name, proc in procs.items():
            try:
                tree = [proc, *proc.children(recursive=True)]
                row[f"{name}_rss"] = sum(p.memory_info().rss for p in tree)
                row[f"{name}_fds"] = sum(p.num_fds() for p in tree)
                cpu = proc.cpu_times()
                row[f"{name}_cpu_s"] = round(cpu.user + cpu.system, 2)
            except psutil.Error:
                pass  # gone: the load's failure reports it
        out.append(row)
        await asyncio.sleep(max(0.0, t0 + len(out) * SAMPLE_S - time.monotonic()))


async def _traced_edge(children: Children, stack: TokenRelay, traces: Path) -> None:
    """Replace the stack's edge by the same edge under tracemalloc, on the same port."""
    assert stack.edge is not None
    stack.edge.stop()
    stack.edge = children.python(
        "edge",
        ["-m", "bench.memtrace", str(traces), "edge", "--host", "127.0.0.1",
         "--port", str(stack.port)],
        _env(stack.settings),
    )  # fmt: skip
    await wait_until(lambda: _healthy(stack.port), stack.edge, 90, "traced edge /healthz 200")


def _trace(stack: TokenRelay, on: bool) -> None:
    if on and stack.edge is not None:
        os.kill(stack.edge.pid, memtrace.SIGNAL)


def _edge_metrics(port: int) -> dict[str, float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except httpx.HTTPError as exc:
        return {"error": repr(exc)}  # type: ignore[dict-item]
    out = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name and not line.startswith("#"):
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def _log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
