"""The readers' rule: the first event with a given seq wins; nothing after the terminal."""

from __future__ import annotations

from app.events import Event
from app.ordering import Order


def ev(seq: int, type: str = "delta", text: str = "t") -> Event:
    return Event(rid="r", type=type, seq=seq, text=text if type == "delta" else None)


def test_first_event_with_a_seq_wins() -> None:
    order = Order()
    assert order.accept(ev(1, text="writer"))
    assert not order.accept(ev(1, text="late duplicate"))
    assert order.accept(ev(2))


def test_nothing_after_the_terminal_counts() -> None:
    order = Order()
    assert order.accept(ev(1))
    assert order.accept(ev(2, "error"))  # the watchdog's
    assert not order.accept(ev(2, text="the writer, late"))
    assert not order.accept(ev(3, "done"))
    assert (order.last, order.final) == (2, 2)


def test_a_reader_may_start_mid_response() -> None:
    order = Order()
    assert order.accept(ev(57))
    assert not order.accept(ev(56))
    assert order.accept(ev(58))
