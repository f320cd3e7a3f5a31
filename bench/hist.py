"""Latency histograms with 1 % wide logarithmic buckets: bounded memory for millions of samples,
mergeable across load-generator processes, percentiles within 1 % of the exact value."""

from __future__ import annotations

import math
from collections.abc import Iterable

GROWTH = 1.01
FLOOR_MS = 0.01  # anything faster (or a clock step backwards) counts as 10 µs
_LOG = math.log(GROWTH)


class Histogram:
    def __init__(self, buckets: dict[int, int] | None = None) -> None:
        self.buckets: dict[int, int] = dict(buckets or {})
        self.count = sum(self.buckets.values())

    def add(self, ms: float, n: int = 1) -> None:
        """Record `n` samples of `ms` (a coalesced delta: one per token it carries)."""
        b = int(math.log(ms / FLOOR_MS) / _LOG) if ms > FLOOR_MS else 0
        self.buckets[b] = self.buckets.get(b, 0) + n
        self.count += n

    def merge(self, other: Histogram) -> None:
        for b, n in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + n
        self.count += other.count

    def percentile(self, p: float) -> float | None:
        """The upper edge of the bucket holding the p-th percentile (p in 0..100)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return _upper(b)
        return _upper(max(self.buckets))

    def summary(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "p50_ms": _round(self.percentile(50)),
            "p90_ms": _round(self.percentile(90)),
            "p99_ms": _round(self.percentile(99)),
            "p999_ms": _round(self.percentile(99.9)),
            "max_ms": _round(self.percentile(100)),
        }

    def cdf(self) -> list[tuple[float, float]]:
        """(latency ms, fraction of samples at or below it), one point per bucket."""
        out, seen = [], 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            out.append((_upper(b), seen / self.count))
        return out

    def to_json(self) -> dict[str, int]:
        return {str(b): n for b, n in self.buckets.items()}

    @classmethod
    def from_json(cls, raw: dict[str, int]) -> Histogram:
        return cls({int(b): int(n) for b, n in raw.items()})


def merged(hists: Iterable[Histogram]) -> Histogram:
    out = Histogram()
    for h in hists:
        out.merge(h)
    return out


def _upper(b: int) -> float:
    return FLOOR_MS * GROWTH ** (b + 1)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
