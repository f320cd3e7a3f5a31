from __future__ import annotations

from agents.transforms.sequencing import SeqState, apply, observe
from app import events
from app.events import Event


def tok(type_: str, n: int | None, source: str = "answer", text: str | None = None) -> Event:
    return Event(rid="r1", type=type_, source=source, n=n, text=text, ts=1.0)


def run(tokens: list[Event]) -> tuple[SeqState, list[Event]]:
    state, out = SeqState(), []
    for t in tokens:
        outcome = apply(state, t)
        state = outcome.state
        if outcome.event:
            out.append(outcome.event)
    return state, out


def test_seq_is_contiguous_across_sources_and_types() -> None:
    _, out = run(
        [
            tok(events.OPEN, None),
            tok(events.DELTA, 1, text="a"),
            tok(events.DELTA, 1, "tool", text="b"),
            tok(events.SOURCE_DONE, 2, "tool"),
            tok(events.DONE, 2),
        ]
    )
    assert [e.seq for e in out] == [1, 2, 3, 4]
    assert [e.type for e in out] == ["delta", "delta", "source.done", "done"]


def test_replayed_writes_are_dropped() -> None:
    state, out = run([tok(events.DELTA, 1, text="a"), tok(events.DELTA, 2, text="b")])
    again = apply(state, tok(events.DELTA, 2, text="b"))
    assert again.event is None and again.dropped == "duplicate"


def test_nothing_follows_the_terminal_event() -> None:
    state, out = run([tok(events.DELTA, 1, text="a"), tok(events.ERROR, 2)])
    late = apply(state, tok(events.DONE, 3))
    assert late.dropped == "after_terminal"
    assert [e.type for e in out] == ["delta", "error"]


def test_index_records_open_and_terminal() -> None:
    state = SeqState()
    first = apply(state, tok(events.OPEN, None))
    assert first.index is not None and first.index.type == events.OPEN
    second = apply(first.state, tok(events.DELTA, 1, text="x"))
    assert second.index is None
    last = apply(second.state, tok(events.DONE, 2))
    assert last.index is not None and (last.index.type, last.index.seq) == ("done", 2)


def test_observe_rebuilds_the_state_apply_reached() -> None:
    tokens = [tok(events.DELTA, i, text=str(i)) for i in range(1, 6)]
    state, out = run(tokens)
    rebuilt = SeqState()
    for e in out + out[2:]:  # an overlapping re-read is harmless
        rebuilt = observe(rebuilt, e)
    assert (rebuilt.seq, rebuilt.n, rebuilt.terminal) == (state.seq, state.n, state.terminal)
    assert apply(rebuilt, tokens[4]).dropped == "duplicate"
    assert apply(rebuilt, tok(events.DELTA, 6, text="6")).event.seq == 6


def test_state_round_trips_through_bytes() -> None:
    state = SeqState(seq=7, n={"answer": 5, "tool": 2}, terminal=True, opened=True)
    assert SeqState.loads(state.dumps()) == state
