"""Responses written straight to Kafka with the writer SDK, for edge tests that need no worker:
one event per call (each flushed), so a test knows every seq."""

from __future__ import annotations

from app.producer import ResponseWriter


async def deltas(writer: ResponseWriter, first: int, last: int, size: int = 0) -> None:
    """Deltas numbered first..last, each stored before the next is written (one event each)."""
    for i in range(first, last + 1):
        await writer.delta(text(i, size))
        await writer.flush()


def text(i: int, size: int = 0) -> str:
    return f"[{i:06d}]" + "x" * size


def expected_text(first: int, last: int, size: int = 0) -> str:
    return "".join(text(i, size) for i in range(first, last + 1))
