"""One message of every topic through its contract module (app/contract/): encoded, decoded back,
equal; and each decoder refuses what is not its message."""

from __future__ import annotations

from typing import Any

import pytest

from app import events
from app.contract import control, deadletter, index, requests, stats, tables
from app.contract.requests import Call
from app.errors import DecodeError

CALL = Call("answer", "demo", ({"role": "user", "content": "hi"},), {"tokens": 3})


def aggregate() -> stats.Aggregate:
    agg = stats.Aggregate(responses=2, cancels=1, errors={"upstream_timeout": 1},
                          input_tokens=5, output_tokens=7, stream_ms=12.5)  # fmt: skip
    agg.ttft.add(42.0)
    return agg


MESSAGES: dict[str, tuple[Any, Any]] = {
    "events": (events.Event("r1", "delta", seq=3, ts=1.5, text="hé"), events.decode),
    "requests": (
        requests.Request("r1", [CALL.to_dict()], client="127.0.0.1", who="ci", key_id="k1",
                         views=("plain",), conversation={"id": "c1", "turn": 2},
                         cache_hit={"rid": "r0", "pace": "full"}),  # fmt: skip
        requests.decode,
    ),
    "control": (
        control.Control("r1", control.CANCEL, "10.0.0.1", 1.0e12, False, "ci", "k1"),
        control.decode,
    ),
    "responses": (
        index.IndexRecord("r1", "done", 3, 1.0e12, 1.0e12 + 5, seq=9, first=10, last=19,
                          views=("plain",), summary={"models": ["demo"]}),  # fmt: skip
        index.decode,
    ),
    "stats": (stats.Partial("demo", 28_000_000, 2, aggregate()), stats.decode),
    "stats table": (tables.Counted(41, aggregate()), tables.decode_counted),
    "views table": (
        tables.Followed("r1", 2, 1.0e12, 17, ("plain", "json"), {"json": {"schema": {}}}),
        tables.decode_followed,
    ),
}


def wire(message: Any) -> bytes:
    return events.encode(message) if isinstance(message, events.Event) else message.encode()


@pytest.mark.parametrize("topic", MESSAGES)
def test_round_trip(topic: str) -> None:
    message, decode = MESSAGES[topic]
    assert decode(wire(message)) == message
    assert wire(decode(wire(message))) == wire(message)


@pytest.mark.parametrize("topic", MESSAGES)
@pytest.mark.parametrize("junk", [b"", b"[]", b"{}", b"not json", b'{"rid": ""}'])
def test_refused(topic: str, junk: bytes) -> None:
    with pytest.raises((DecodeError, ValueError)):
        MESSAGES[topic][1](junk)


def test_call_round_trips_through_its_request() -> None:
    got = requests.decode(requests.Request("r1", [CALL.to_dict()]).encode())
    assert Call(**{**got.calls[0], "messages": tuple(got.calls[0]["messages"])}) == CALL


def test_dead_letter_round_trip() -> None:
    letter = deadletter.DeadLetter("t.events", 3, 1234, "x" * 600, b"k", b"\xff")
    back = deadletter.decode(letter.key, letter.value, letter.headers())
    assert back == deadletter.DeadLetter("t.events", 3, 1234, "x" * 500, b"k", b"\xff")
    assert deadletter.decode(None, None, [("error", b"x")]) is None
