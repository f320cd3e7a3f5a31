"""A mergeable latency histogram: counts in logarithmic buckets (four per doubling), so partial
histograms from many partitions and workers add up exactly and any quantile is within ~19 % of
the true value (one bucket's width), whatever the range.

Bucket `i` holds values in (2**((i-1)/4), 2**(i/4)] ms; bucket 0 everything up to 1 ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PER_DOUBLING = 4
MAX_BUCKET = 4 * 24  # 2**24 ms is 4.7 hours: anything longer is counted there


def bucket_of(ms: float) -> int:
    if ms <= 1.0:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log2(ms) * PER_DOUBLING - 1e-9))


def upper_ms(bucket: int) -> float:
    """The bucket's upper bound: what a quantile in it reports (never an underestimate)."""
    return float(2.0 ** (bucket / PER_DOUBLING))


@dataclass(slots=True)
class Histogram:
    counts: dict[int, int] = field(default_factory=dict)
    sum_ms: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, ms: float) -> None:
        b = bucket_of(ms)
        self.counts[b] = self.counts.get(b, 0) + 1
        self.sum_ms += ms

    def merge(self, other: Histogram) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n
        self.sum_ms += other.sum_ms

    def minus(self, older: Histogram) -> Histogram:
        """What was added since `older` (a previous state of the same partial); never negative."""
        out = Histogram(sum_ms=max(0.0, self.sum_ms - older.sum_ms))
        for b, n in self.counts.items():
            grew = n - older.counts.get(b, 0)
            if grew > 0:
                out.counts[b] = grew
        return out

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-th value; None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return upper_ms(b)
        return upper_ms(max(self.counts))  # unreachable: the last bucket holds rank `total`

    def cumulative(self, bounds_ms: list[float]) -> Iterator[tuple[float, int]]:
        """(bound, how many values are <= bound) for ascending bounds that are bucket bounds
        (Prometheus's `le` buckets)."""
        ordered = sorted(self.counts.items())
        seen, i = 0, 0
        for bound in bounds_ms:
            while i < len(ordered) and upper_ms(ordered[i][0]) <= bound * (1 + 1e-9):
                seen += ordered[i][1]
                i += 1
            yield bound, seen

    def to_wire(self) -> dict[str, Any]:
        return {"b": {str(b): n for b, n in sorted(self.counts.items())}, "sum_ms": self.sum_ms}

    @classmethod
    def from_wire(cls, obj: Any) -> Histogram:
        """ValueError unless `obj` is a histogram's wire form."""
        if not isinstance(obj, Mapping) or not isinstance(obj.get("b"), Mapping):
            raise ValueError("not a histogram")
        counts: dict[int, int] = {}
        for key, n in obj["b"].items():
            b = int(key)
            if not 0 <= b <= MAX_BUCKET or type(n) is not int or n < 0:
                raise ValueError(f"bad histogram bucket {key!r}: {n!r}")
            counts[b] = n
        total = obj.get("sum_ms", 0.0)
        if type(total) is not int and type(total) is not float or total < 0:
            raise ValueError("bad histogram sum")
        return cls(counts, float(total))
