"""What every scenario gets: the mode, the running systems, the process registry, and where
results go. Built once by bench/run.py and passed down."""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.config import Mode
from bench.procs import Children
from bench.stack import Broker, TokenRelay
from bench.systems import System


@dataclass
class Context:
    mode: Mode
    out: Path
    children: Children
    broker: Broker
    tokenrelay: TokenRelay
    systems: dict[str, System]
    results: dict[str, Any] = field(default_factory=dict)  # by scenario, as they finish
    _labels: itertools.count[int] = field(default_factory=itertools.count)
    _t0: float = field(default_factory=time.monotonic)

    def label(self, what: str) -> str:
        """A name unique in this run, for stream ids and log files."""
        return f"{what}{next(self._labels)}x{int(time.time()) % 100000}"

    def write(self, scenario: str, data: dict[str, Any]) -> None:
        path = self.out / f"{scenario}.json"
        path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        self.log(f"wrote {path}")

    def log(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self._t0:6.1f}s] {message}", file=sys.stderr, flush=True)
