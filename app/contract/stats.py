"""Per-model, per-minute response statistics: the `Aggregate` the stats agent keeps per (responses
partition, model, minute) and publishes to <prefix>.stats, which the edge merges across partitions.

Every field adds up (counts, token sums, a log-bucket histogram), so partials from any number of
partitions and workers merge exactly, and a newer copy of one partial minus the older one is what
happened in between (the edge's Prometheus counters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from app.contract.index import IndexRecord
from app.histogram import Histogram
from app.summary import Summary

WIRE_VERSION = 1
UNKNOWN_MODEL = "unknown"  # a response ended by the watchdog, or by a writer that named none
SEP = "\x1f"


@dataclass(slots=True)
class Aggregate:
    responses: int = 0
    cancels: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by code
    ttft: Histogram = field(default_factory=Histogram)  # ms from creation to first text
    input_tokens: int = 0
    output_tokens: int = 0
    stream_ms: float = 0.0  # output tokens / stream seconds = tokens/s

    def add_response(self, record: IndexRecord, summary: Summary, model: str) -> None:
        """One terminal index record, counted for `model` (one of its response's models)."""
        self.responses += 1
        if record.state == "cancelled":
            self.cancels += 1
        elif record.state == "error":
            # A failed response with several models: its error is its failing model's.
            if summary.failed_model in (None, model) or summary.failed_model not in summary.models:
                code = summary.code or "unknown"
                self.errors[code] = self.errors.get(code, 0) + 1
        if summary.ttft_ms is not None:
            self.ttft.add(summary.ttft_ms)
        use = summary.by_model.get(model)
        if use is not None:
            self.input_tokens += use.input_tokens
            self.output_tokens += use.output_tokens
            self.stream_ms += use.stream_ms

    def merge(self, other: Aggregate) -> None:
        self.responses += other.responses
        self.cancels += other.cancels
        for code, n in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + n
        self.ttft.merge(other.ttft)
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.stream_ms += other.stream_ms

    def minus(self, older: Aggregate) -> Aggregate:
        """What was added since `older` (an earlier copy of the same partial), never negative:
        a partial that restarted lower (a lost table) counts from its new value on."""
        return Aggregate(
            responses=max(0, self.responses - older.responses),
            cancels=max(0, self.cancels - older.cancels),
            errors={
                c: n - older.errors.get(c, 0)
                for c, n in self.errors.items()
                if n > older.errors.get(c, 0)
            },
            ttft=self.ttft.minus(older.ttft),
            input_tokens=max(0, self.input_tokens - older.input_tokens),
            output_tokens=max(0, self.output_tokens - older.output_tokens),
            stream_ms=max(0.0, self.stream_ms - older.stream_ms),
        )

    def report(self) -> dict[str, Any]:
        """The JSON of GET /v1/stats for one model and minute (or a total)."""
        tps = self.output_tokens * 1000 / self.stream_ms if self.stream_ms > 0 else None
        return {
            "responses": self.responses,
            "errors": dict(sorted(self.errors.items())),
            "cancels": self.cancels,
            "ttft_ms": {
                "count": self.ttft.count,
                "p50": self.ttft.quantile(0.5),
                "p95": self.ttft.quantile(0.95),
            },
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_per_s": round(tps, 1) if tps is not None else None,
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "cancels": self.cancels,
            "errors": self.errors,
            "ttft": self.ttft.to_wire(),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "stream_ms": self.stream_ms,
        }

    @classmethod
    def from_wire(cls, obj: Any) -> Aggregate:
        """ValueError for anything that is not an aggregate's wire form."""
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        errors = obj.get("errors", {})
        if not isinstance(errors, dict) or not all(
            isinstance(c, str) and type(n) is int and n >= 0 for c, n in errors.items()
        ):
            raise ValueError("bad errors")
        ints = [obj.get(n, 0) for n in ("responses", "cancels", "input_tokens", "output_tokens")]
        if not all(type(n) is int and n >= 0 for n in ints):
            raise ValueError("bad counts")
        stream_ms = obj.get("stream_ms", 0.0)
        if type(stream_ms) is not int and type(stream_ms) is not float or stream_ms < 0:
            raise ValueError("bad stream_ms")
        return cls(ints[0], ints[1], dict(errors), Histogram.from_wire(obj.get("ttft")),
                   ints[2], ints[3], float(stream_ms))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Partial:
    """One record of <prefix>.stats: a partition's aggregate of one model and minute."""

    model: str
    minute: int  # epoch minutes (ms // 60,000) of the responses' ends
    partition: int  # of <prefix>.responses
    aggregate: Aggregate

    @property
    def key(self) -> str:
        return f"{self.model}{SEP}{self.minute}{SEP}{self.partition}"

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": WIRE_VERSION,
                "model": self.model,
                "minute": self.minute,
                "partition": self.partition,
                **self.aggregate.to_wire(),
            }
        )


def decode(raw: bytes | None) -> Partial:
    """ValueError for anything that is not a stats record (the edge skips those)."""
    try:
        obj = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != WIRE_VERSION:
        raise ValueError("not a stats record of this version")
    model, minute, partition = obj.get("model"), obj.get("minute"), obj.get("partition")
    if not isinstance(model, str) or not model or type(minute) is not int:
        raise ValueError("bad model or minute")
    if type(partition) is not int or partition < 0:
        raise ValueError("bad partition")
    return Partial(model, minute, partition, Aggregate.from_wire(obj))


def minute_of(ts_ms: float) -> int:
    return int(ts_ms // 60_000)
