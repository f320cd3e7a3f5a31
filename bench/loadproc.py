"""The harness's handle on one load-generator process (bench/loadgen.py): send its spec, wait for
its "ready" (or any other event), send the start time, collect its result. Bounded by time-outs;
killed on the way out with everything else."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from bench.procs import Children, child_env, die_with_parent


class LoadProc:
    def __init__(self, children: Children, name: str, spec: dict[str, Any]) -> None:
        self.children, self.name, self.spec = children, name, spec
        self.proc: asyncio.subprocess.Process | None = None
        self.log = children.logdir / f"loadgen-{name}.log"

    async def start(self) -> None:
        with self.log.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.loadgen",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=child_env(),
                preexec_fn=die_with_parent,
                limit=1 << 24,  # a result line carries a histogram
            )
        self.children.on_close.append(self.kill)
        self.send(self.spec)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def send(self, value: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(value) + b"\n")

    async def event(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line the load generator prints."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        except TimeoutError:
            self.kill()
            raise RuntimeError(f"loadgen {self.name}: nothing after {timeout_s:.0f}s") from None
        if not line:
            await self.proc.wait()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"loadgen {self.name} exited {self.proc.returncode}:\n{tail}")
        out: dict[str, Any] = orjson.loads(line)
        return out

    async def expect(self, name: str, timeout_s: float) -> dict[str, Any]:
        got = await self.event(timeout_s)
        if got.get("event") != name:
            raise RuntimeError(f"loadgen {self.name}: expected {name!r}, got {got}")
        return got

    async def result(self, timeout_s: float) -> dict[str, Any]:
        got = await self.expect("result", timeout_s)
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), 10)
        return got

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


async def run_probe(
    children: Children, name: str, spec: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Run a task that needs no start signal and return its result."""
    lp = LoadProc(children, name, spec)
    await lp.start()
    return await lp.result(timeout_s)
