"""Pure sequencing rules: producer writes in, client events with seq 1, 2, 3 ... out.

Per response the state is the last seq given, the last `n` seen from each source and whether
the terminal event was given. `observe` folds an already-written event back into a state (crash
recovery); it is idempotent, so re-reading an overlap of the log is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from app import events
from app.events import Event


@dataclass(frozen=True, slots=True)
class SeqState:
    seq: int = 0
    n: dict[str, int] = field(default_factory=dict)
    terminal: bool = False
    opened: bool = False

    def dumps(self) -> bytes:
        return orjson.dumps({"seq": self.seq, "n": self.n, "t": self.terminal, "o": self.opened})

    @classmethod
    def loads(cls, raw: bytes) -> SeqState:
        obj: dict[str, Any] = orjson.loads(raw)
        return cls(seq=obj["seq"], n=obj["n"], terminal=obj["t"], opened=obj["o"])


@dataclass(frozen=True, slots=True)
class Outcome:
    state: SeqState
    event: Event | None = None  # for <prefix>.events
    index: Event | None = None  # for <prefix>.responses
    dropped: str | None = None  # why the input produced nothing


def apply(state: SeqState, token: Event) -> Outcome:
    """Sequence one producer write against the response's state."""
    if state.terminal:
        return Outcome(state, dropped="after_terminal")
    if token.n is not None and token.n <= state.n.get(token.source, 0):
        return Outcome(state, dropped="duplicate")
    n = state.n if token.n is None else {**state.n, token.source: token.n}
    if token.type == events.OPEN:
        if state.opened or state.seq:
            return Outcome(state, dropped="duplicate")
        return Outcome(replace(state, opened=True), index=_index(token, events.OPEN, 0))
    seq = state.seq + 1
    out = token.with_seq(seq)
    new = replace(state, seq=seq, n=n, terminal=out.terminal, opened=True)
    index = None
    if out.terminal:
        index = _index(token, token.type, seq)
    elif not state.opened:
        # A producer that never said `open` still gets its response indexed.
        index = _index(token, events.OPEN, 0)
    return Outcome(new, event=out, index=index)


def observe(state: SeqState, event: Event) -> SeqState:
    """Fold an event already in <prefix>.events into a state (monotonic, idempotent)."""
    n = state.n
    if event.n is not None and event.n > n.get(event.source, 0):
        n = {**n, event.source: event.n}
    return SeqState(
        seq=max(state.seq, event.seq),
        n=n,
        terminal=state.terminal or event.terminal,
        opened=True,
    )


def _index(token: Event, status_type: str, last_seq: int) -> Event:
    return Event(rid=token.rid, type=status_type, source="", seq=last_seq, ts=token.ts)
