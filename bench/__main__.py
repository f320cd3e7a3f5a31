"""`python -m bench [--quick | --smoke] [--only latency,resume ...] [--set duration_s=30 ...]
[--kafka HOST:PORT]`: the benchmark run (full by default); see bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.config import MODES, SYSTEMS, Mode
from bench.run import SCENARIOS, run

RESULTS = Path(__file__).resolve().parent / "results"
# Where each mode writes unless --out says otherwise: only a full run writes the results page
# (bench/results/README.md); a smoke run's numbers are meaningless, so they go to a temp dir.
OUT = {"full": RESULTS, "quick": RESULTS / "quick", "smoke": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", dest="mode", const="quick")
    group.add_argument("--smoke", action="store_const", dest="mode", const="smoke")
    parser.add_argument(
        "--out",
        type=Path,
        help="results dir (full: bench/results, quick: bench/results/quick, smoke: a new temp dir)",
    )
    parser.add_argument("--kafka", help="use this broker instead of starting one")
    parser.add_argument("--broker-dir", help="its broker.sh data dir (for its pid and CPU)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--only", default="", help=f"scenarios, of: {','.join(SCENARIOS)}")
    parser.add_argument("--keep-logs", action="store_true", help="keep process logs after success")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a mode field, e.g. duration_s=30 or loads=10,50",
    )
    args = parser.parse_args(argv)
    systems = tuple(s for s in args.systems.split(",") if s)
    only = tuple(s for s in args.only.split(",") if s)
    unknown = [s for s in systems if s not in SYSTEMS] + [s for s in only if s not in SCENARIOS]
    if unknown or "tokenrelay" not in systems:
        parser.error(f"unknown names {unknown}" if unknown else "tokenrelay must be measured")
    try:
        mode = with_overrides(MODES[args.mode or "full"], args.set)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    if args.out is None:
        args.out = OUT[mode.name] or Path(tempfile.mkdtemp(prefix="tokenrelay-bench-smoke-"))
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_main(args, mode, systems, only))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


def with_overrides(mode: Mode, pairs: list[str]) -> Mode:
    fields = {f.name: f for f in dataclasses.fields(mode)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        if name not in fields or name == "name":
            raise ValueError(f"--set {pair}: no such mode field")
        current = getattr(mode, name)
        if isinstance(current, tuple):
            changes[name] = tuple(int(x) for x in raw.split(",") if x)
        elif isinstance(current, bool):
            changes[name] = raw.lower() in ("1", "true", "yes")
        else:
            changes[name] = type(current)(raw)
    return dataclasses.replace(mode, **changes)


async def _main(
    args: argparse.Namespace, mode: Mode, systems: tuple[str, ...], only: tuple[str, ...]
) -> int:
    # Ctrl-C and SIGTERM unwind through run()'s finally, which stops every child. SIGINT is
    # handled here too because a shell starts background jobs with it ignored.
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    return await run(
        mode,
        args.out,
        kafka=args.kafka,
        broker_dir=args.broker_dir,
        systems=systems,
        only=only,
        keep_logs=args.keep_logs,
    )


if __name__ == "__main__":
    sys.exit(main())
