"""Response ids and where a response lives.

A generated id carries its creation time (`resp_<ms hex>_<random>`), so any process can find a
response it has never seen by seeking Kafka by time; ids chosen by SDK users work as well, at
the cost of a longer search. A response's partition is the Java client's murmur2 of its id, so
every Kafka client agrees; it is computed once per response, not per record.
"""

from __future__ import annotations

import secrets
import time

from aiokafka.partitioner import murmur2

PREFIX = "resp_"


def new_response_id(now_ms: float | None = None) -> str:
    ms = int(time.time() * 1000 if now_ms is None else now_ms)
    return f"{PREFIX}{ms:011x}_{secrets.token_hex(8)}"


def created_ms(rid: str) -> float | None:
    """The creation time a generated id carries, or None for any other id."""
    if not rid.startswith(PREFIX):
        return None
    stamp, sep, rest = rid[len(PREFIX) :].partition("_")
    if not sep or len(stamp) != 11 or len(rest) != 16:
        return None
    try:
        return float(int(stamp, 16))
    except ValueError:
        return None


def partition_for(rid: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, positive) puts key `rid` in."""
    hashed: int = murmur2(rid.encode())  # aiokafka has no type hints
    return (hashed & 0x7FFFFFFF) % partitions
