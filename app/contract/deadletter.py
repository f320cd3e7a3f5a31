"""The records of <prefix>.deadletter: a record no reader could decode, as it was (key and value
untouched), with two headers: `error` (why, at most 500 bytes) and `origin`
(`<topic>/<partition>/<offset>`, where it was; readers count and dedupe by it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_ERROR = 500
ERROR = "error"
ORIGIN = "origin"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    error: str
    key: bytes | None = None
    value: bytes | None = None

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def headers(self) -> list[tuple[str, bytes]]:
        return [(ERROR, self.error[:MAX_ERROR].encode()), (ORIGIN, self.origin.encode())]


def decode(
    key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
) -> DeadLetter | None:
    """A dead letter read back; None without a well-formed `origin` header."""
    found = dict(headers)
    origin = found.get(ORIGIN, b"").decode("utf-8", "replace")
    topic, partition, offset = (origin.rsplit("/", 2) + ["", ""])[:3]
    if not topic or not partition.isdigit() or not offset.isdigit():
        return None
    error = found.get(ERROR, b"").decode("utf-8", "replace")
    return DeadLetter(topic, int(partition), int(offset), error, key, value)
