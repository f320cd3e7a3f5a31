"""The resume loop's state, with no I/O: where the reader is in each stream, when and how to
reconnect, and the readers' rule applied on the client (seq <= position: a copy, dropped;
position + 1: next; anything beyond: a gap, raised). Client and AsyncClient drive it.

Reconnects back off exponentially with jitter from the server's `retry:` hint (or `base_s`),
capped; `attempts` reconnects in a row without a new event give up. Any new event resets the
count, so a stream cut every few KiB still reaches its end, one resume at a time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import orjson

from app.client.errors import (
    GapError,
    ProtocolError,
    RetriesExhausted,
    error_for,
    retry_after,
)
from app.client.events import Event
from app.client.sse import Parser

RETRY_STATUSES = frozenset({502, 503, 504})  # the edge's 503 (Kafka away), a proxy's 502/504


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int = 8  # reconnects in a row without a new event before giving up
    base_s: float = 0.25  # the first delay, unless the server sent `retry:`
    cap_s: float = 15.0

    def delay(self, failures: int, hint_s: float | None, rand: Callable[[], float]) -> float:
        """Half the exponential step plus a random part of the other half: never zero, and a
        herd of readers dropped by one edge restart spreads out."""
        step = min(self.cap_s, (self.base_s if hint_s is None else hint_s) * 2.0 ** (failures - 1))
        return step / 2 + rand() * step / 2


class Positions:
    """The last seq delivered per response. A single stream is keyed by the id it was asked for
    (its view's events too); a multiplexed one by each event's `rid`."""

    def __init__(self, start: Mapping[str, int], *, multiplexed: bool) -> None:
        self.at = dict(start)
        self.multiplexed = multiplexed
        self.ended: set[str] = set()

    def accept(self, event: Event) -> bool:
        """True for the next event of its stream, False for a copy; GapError past a hole."""
        rid = event.rid if self.multiplexed else next(iter(self.at))
        if rid not in self.at:
            raise ProtocolError(f"an event of {rid[:100]!r}, which this stream did not ask for")
        if rid in self.ended or event.seq <= self.at[rid]:
            return False
        if event.seq != self.at[rid] + 1:
            raise GapError(rid, self.at[rid] + 1, event.seq)
        self.at[rid] = event.seq
        if event.terminal:
            self.ended.add(rid)
        return True

    @property
    def finished(self) -> bool:
        return len(self.ended) == len(self.at)

    def last_event_id(self) -> str:
        """What goes back as Last-Event-ID: the seq, or multiplex's vector `RID:N,RID:N`."""
        if not self.multiplexed:
            return str(next(iter(self.at.values())))
        return ",".join(f"{rid}:{pos}" for rid, pos in self.at.items())


class Resume:
    """One logical stream across connections. Per connection: `answer` for a non-200 status,
    else `connected` then `feed` per chunk; `dropped` when it ends before its terminal event."""

    def __init__(
        self, positions: Positions, backoff: Backoff, auth: list[str], fallback: str | None,
        rand: Callable[[], float] = random.random,
    ) -> None:  # fmt: skip
        self.positions = positions
        self.backoff = backoff
        self.tokens = auth  # read tokens: one goes as Bearer, several as ?token=
        self.fallback = fallback  # an API key, for when the tokens are refused (expired)
        self.rand = rand
        self.failures = 0
        self.retry_ms: int | None = None  # the server's `retry:`, kept across connections
        self._parser = Parser()

    @property
    def finished(self) -> bool:
        return self.positions.finished

    def headers(self) -> dict[str, str]:
        out = {"Accept": "text/event-stream", "Last-Event-ID": self.positions.last_event_id()}
        if len(self.tokens) == 1:
            out["Authorization"] = f"Bearer {self.tokens[0]}"
        elif not self.tokens and self.fallback:
            out["Authorization"] = f"Bearer {self.fallback}"
        return out

    def params(self) -> dict[str, str]:
        return {"token": ",".join(self.tokens)} if len(self.tokens) > 1 else {}

    def answer(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        """A connection answered `status` instead of a stream: None when the stream is over
        (204), else the delay before the next try; raises what cannot be retried."""
        if status == 204:
            self.positions.ended.update(self.positions.at)
            return None
        if status == 401 and self.tokens and self.fallback:
            self.tokens = []  # an expired read token: the API key reads everything
            return 0.0
        if status in RETRY_STATUSES:
            return self.dropped(f"HTTP {status}", retry_after(headers))
        if status >= 300:
            raise error_for(status, headers, body)
        raise ProtocolError(f"unexpected HTTP {status} for an event stream")

    def connected(self, content_type: str) -> None:
        if not content_type.startswith("text/event-stream"):
            raise ProtocolError(f"expected text/event-stream, got {content_type[:100]!r}")
        self._parser = Parser()  # what the last connection left half-sent is gone with it

    def feed(self, chunk: bytes) -> Iterator[Event]:
        """The new events in `chunk`, in order; copies of delivered ones are dropped. A gap
        raises after the events before it were handed out."""
        messages = self._parser.feed(chunk)
        if self._parser.retry_ms is not None:
            self.retry_ms = self._parser.retry_ms
        for message in messages:
            try:
                data = orjson.loads(message.data)
            except orjson.JSONDecodeError:
                raise ProtocolError(f"event data is not JSON: {message.data[:100]!r}") from None
            event = Event.from_data(data)
            if self.positions.accept(event):
                self.failures = 0
                yield event
                if self.positions.finished:
                    return  # nothing after the last terminal event counts

    def dropped(self, cause: str, hint_s: float | None = None) -> float:
        """The delay before reconnecting after a drop; RetriesExhausted past the bound. A
        `Retry-After` (hint_s) is waited as given; otherwise the backoff runs from `retry:`."""
        self.failures += 1
        if self.failures > self.backoff.attempts:
            raise RetriesExhausted(self.backoff.attempts, cause, self.positions.last_event_id())
        if hint_s is not None:
            return hint_s
        hint = None if self.retry_ms is None else self.retry_ms / 1000
        return self.backoff.delay(self.failures, hint, self.rand)
