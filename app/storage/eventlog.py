"""A stream's event log as one blob: each event's exact Kafka value, length-prefixed.

Byte for byte what Kafka served, whatever the values hold (a writer other than ours may put a
newline in one). One row per stream rather than one per event: a 10,000-event response reads as
one row (see docs/storage.md for the measurement).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

_LEN = struct.Struct(">I")


def pack(values: Sequence[bytes]) -> bytes:
    out = bytearray()
    for value in values:
        out += _LEN.pack(len(value))
        out += value
    return bytes(out)


def unpack(blob: bytes) -> list[bytes]:
    view = memoryview(blob)
    out: list[bytes] = []
    at, end = 0, len(blob)
    while at < end:
        (size,) = _LEN.unpack_from(view, at)
        at += 4
        if at + size > end:
            raise ValueError("truncated event log")
        out.append(bytes(view[at : at + size]))
        at += size
    return out
