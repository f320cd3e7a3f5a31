"""Responses in progress per API key on this edge, from the POST that creates one until its
terminal event: a key at `key_max_responses` gets 429 `too_many_responses` until one ends.

Counted when a POST asks, not kept up by callbacks on the live path: a key's responses are
looked up in what the fan-out knows (`finished`: True once its terminal event came, False while
in progress, None when this edge does not hold it). A slot is taken before the POST's records
are sent (no await between the count and the take, so two POSTs cannot both take the last
one), bound to the response once they are, and given back if the POST fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.errors import TooManyResponses

# A response the fan-out has not heard of this long after its POST never will (its records
# reach every edge within milliseconds), or has long left the directory: it no longer counts.
STRAY_S = 60.0
# A slot frees when a response ends, which cannot be foreseen: clients retry after this.
RETRY_AFTER_S = 1


class Ticket:
    """One slot: a POST under way (rid None) or a response it created."""

    __slots__ = ("key_id", "rid", "since")

    def __init__(self, key_id: str, since: float) -> None:
        self.key_id = key_id
        self.rid: str | None = None
        self.since = since


class Slots:
    def __init__(
        self, limit: int, finished: Callable[[str], bool | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.limit = limit
        self.finished = finished
        self.clock = clock
        self._held: dict[str, set[Ticket]] = {}

    def count(self, key_id: str) -> int:
        """The key's responses in progress (and POSTs under way); ended ones are let go."""
        held = self._held.get(key_id)
        if not held:
            return 0
        now = self.clock()
        for t in [t for t in held if t.rid is not None and self._ended(t.rid, now - t.since)]:
            held.discard(t)
        if not held:
            del self._held[key_id]
        return len(held)

    def take(self, key_id: str) -> Ticket:
        """A slot for a new response of `key_id`; raises TooManyResponses at the limit."""
        if self.count(key_id) >= self.limit:
            raise TooManyResponses(
                f"this API key has {self.limit} responses in progress on this edge; "
                "retry when one has ended",
                RETRY_AFTER_S,
            )
        ticket = Ticket(key_id, self.clock())
        self._held.setdefault(key_id, set()).add(ticket)
        return ticket

    def bind(self, ticket: Ticket, rid: str) -> None:
        """The POST stored its records: the slot is the response's until it ends."""
        ticket.rid = rid
        ticket.since = self.clock()

    def drop(self, ticket: Ticket) -> None:
        """The POST failed: its slot is free again."""
        held = self._held.get(ticket.key_id)
        if held is not None:
            held.discard(ticket)
            if not held:
                del self._held[ticket.key_id]

    def _ended(self, rid: str, age_s: float) -> bool:
        state = self.finished(rid)
        return state is True or (state is None and age_s > STRAY_S)
