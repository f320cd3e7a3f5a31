"""Profile of the hot path: py-spy (--native) samples the worker and the edge together while
tokenrelay carries a steady load below its knee; the top costs go into the results README.
Costs are shares of the samples in which the sampled thread was not waiting (epoll, futex).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.scenarios.load import after_run, brief, run_load

TOP = 12
RATE_HZ = 100
# Of the knee's load: py-spy --native pauses the process at every sample, which costs capacity.
PROFILE_SHARE = 0.5
_LINE = re.compile(r":\d+\)$")
UBIQUITOUS = 0.7
# A leaf in one of these is a thread waiting, not working (py-spy --native samples threads
# blocked in system calls too).
_IDLE = re.compile(
    r"(epoll_p?wait|e?poll|ppoll|p?select6?|\w*futex\w*|pthread_cond_\w*wait\w*|"
    r"sem_\w*wait|(clock_)?nanosleep|sleep) "
)
# Entry points: under every sample of their thread, so they say nothing about where time goes.
ENTRY = (
    "(app/cli.py)",
    "(agents/worker.py)",
    "(uvicorn/main.py)",
    "(uvicorn/server.py)",
    "(uvicorn/_compat.py)",
    "(mode/worker.py)",
)
# Packages that only carry work (event loops, threads), excluded from the inclusive list.
PLUMBING = frozenset(
    {
        "asyncio",
        "threading",
        "runpy",
        "selectors",
        "contextlib",
        "concurrent",
        "mode",
        "uvloop",
        "<frozen runpy>",
    }
)


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def run(ctx: Context) -> dict[str, Any]:
    tool = py_spy()
    stack = ctx.tokenrelay
    if ctx.mode.profile_s <= 0 or tool is None or stack.worker is None or stack.edge is None:
        reason = "py-spy not installed" if tool is None else "not in this mode"
        return {"skipped": reason}
    knee = (ctx.results.get("throughput") or {}).get("knee")
    responses = max(1, int(knee["responses"] * PROFILE_SHARE)) if knee else ctx.mode.loads[0]
    targets = {"worker": stack.worker.pid, "edge": stack.edge.pid}
    raw = {name: ctx.children.logdir / f"py-spy-{name}.txt" for name in targets}
    errors: dict[str, str] = {}

    async def record() -> None:
        procs = {
            name: await asyncio.create_subprocess_exec(
                tool,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(ctx.mode.profile_s)),
                "--rate",
                str(RATE_HZ),
                "--native",
                "--format",
                "raw",
                "--output",
                str(raw[name]),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            for name, pid in targets.items()
        }
        for name, proc in procs.items():
            _, err = await asyncio.wait_for(proc.communicate(), ctx.mode.profile_s + 60)
            if proc.returncode != 0:
                errors[name] = err.decode(errors="replace")[-500:]

    load = await run_load(
        ctx,
        ctx.systems["tokenrelay"],
        responses=responses,
        readers_per=1,
        label=ctx.label("prof"),
        duration_s=ctx.mode.profile_s + 1,
        on_window=record,
    )
    ctx.log(f"profile load: {brief(load)}")
    await after_run(ctx, load)
    out: dict[str, Any] = {
        "tool": "py-spy record --native",
        "rate_hz": RATE_HZ,
        "seconds": ctx.mode.profile_s,
        "responses": responses,
        "tokens_s": load["delivered_tokens_s"],
        "p99_ms": load["latency"]["p99_ms"],
        "cpu": load["cpu"],
        "cpu_us_per_token": load["cpu_us_per_token"],
        "errors": errors,
        "processes": {name: summarize(raw[name]) for name in targets if raw[name].exists()},
    }
    ctx.write("profile", out)
    return out


def summarize(path: Path) -> dict[str, Any]:
    """Top self (leaf) frames, top inclusive frames of real code (not the event loop's or
    threads' plumbing), and self time by package; shares of the samples not spent waiting."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = waiting = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        # Thread-name roots ("process 123:...", "thread 0x...") are not code.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        if _IDLE.match(frames[-1]):
            waiting += n
            continue
        leaf[frames[-1]] += n
        packages[package(frames[-1])] += n
        for f in set(frames):
            where = package(f)
            if not (where in PLUMBING or where.startswith("native") or f.endswith(ENTRY)):
                inclusive[f] += n
    busy = total - waiting

    def top(c: Counter[str], skip_ubiquitous: bool = False) -> list[dict[str, Any]]:
        # A frame under most samples (the entry point, the server's run) says nothing.
        rows = [(f, n) for f, n in c.most_common() if not skip_ubiquitous or n < UBIQUITOUS * busy][
            :TOP
        ]
        return [{"frame": f, "pct": round(100 * n / busy, 1)} for f, n in rows]

    return {
        "samples": total,
        "waiting_pct": round(100 * waiting / total, 1) if total else None,
        "self": top(leaf),
        "inclusive": top(inclusive, True),
        "by_package": top(packages),
    }


def package(frame: str) -> str:
    """Where a frame's code lives: a Python package (ours named as such) or a native library."""
    where = frame[frame.rfind("(") + 1 : -1] if frame.endswith(")") else ""
    if where.endswith((".py", ".pyx")):
        top = where.split("/")[0].removesuffix(".py")
        return {"app": "tokenrelay app", "agents": "tokenrelay agents"}.get(top, top)
    return f"native {where.rsplit('/', 1)[-1]}" if where else "native"
