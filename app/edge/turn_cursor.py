"""The position of a conversation stream (`GET /v1/conversations/{id}/events`), one SSE id:
`T;RID1:12,RID2:5`: the first T turns of the conversation (in its order) had their `response`
event sent, and each of those still streaming was read up to its seq. A turn among the first T
that is not listed has ended, so the vector holds only the responses in flight and stays short
however long the conversation. Pure: parsed and formatted here, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.edge import multiplex
from app.errors import BadCursor

MAX_DIGITS = 9
SEP = ";"


@dataclass(slots=True)
class TurnCursor:
    seen: int = 0  # turns whose `response` event was sent
    positions: dict[str, int] = field(default_factory=dict)  # in-flight rid -> last seq sent

    def encode(self) -> bytes:
        return f"{self.seen}{SEP}".encode() + multiplex.vector(self.positions)


def parse(raw: str | None) -> TurnCursor:
    """A cursor from Last-Event-ID (or `?after=`); none is the conversation's start.

    Raises BadCursor (400) for anything else than `T` or `T;RID:N,...` with at most T
    responses named."""
    if raw is None or not raw.strip():
        return TurnCursor()
    head, _, tail = raw.strip().partition(SEP)
    if not head.isascii() or not head.isdigit() or len(head) > MAX_DIGITS:
        raise BadCursor(f"conversation cursor {raw[:60]!r} is not T;RID:N,...")
    seen = int(head)
    positions = multiplex.parse_vector(tail) if tail.strip() else {}
    if len(positions) > seen:
        raise BadCursor(f"conversation cursor {raw[:60]!r} names more responses than turns")
    return TurnCursor(seen, positions)
