"""The event envelope's decoder: what the writer encodes comes back equal; every malformed
value raises DecodeError (the edge dead-letters it), never another exception."""

from __future__ import annotations

import orjson
import pytest

from app import events
from app.errors import DecodeError

GOOD = {"rid": "r1", "type": "delta", "source": "answer", "seq": 3, "ts": 1.5, "text": "hi"}


def test_an_encoded_event_decodes_to_itself() -> None:
    for event in (
        events.Event(rid="r1", type="delta", seq=1, ts=2.0, text="a"),
        events.Event(
            rid="r1",
            type="error",
            source="tool",
            seq=9,
            ts=3.0,
            retriable=True,
            code="upstream_error",
            message="boom",
            status=502,
        ),  # fmt: skip
        events.Event(rid="r1", type="done", seq=10, ts=4),
    ):
        assert events.decode(events.encode(event)) == event
    assert type(events.decode(orjson.dumps({**GOOD, "ts": 7})).ts) is float


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"not json",
        b"[1, 2]",
        *(orjson.dumps({k: v for k, v in GOOD.items() if k != field}) for field in GOOD),
        orjson.dumps({**GOOD, "seq": True}),
        orjson.dumps({**GOOD, "seq": 0}),
        orjson.dumps({**GOOD, "seq": 1.0}),
        orjson.dumps({**GOOD, "ts": "now"}),
        orjson.dumps({**GOOD, "rid": ""}),
        orjson.dumps({**GOOD, "rid": 5}),
        orjson.dumps({**GOOD, "type": "nope"}),
        orjson.dumps({**GOOD, "source": None}),
        orjson.dumps({**GOOD, "text": 5}),
        orjson.dumps({**GOOD, "type": "error", "retriable": "yes"}),
        orjson.dumps({**GOOD, "type": "error", "status": "502"}),
        orjson.dumps({**GOOD, "type": "error", "code": 1}),
        orjson.dumps({**GOOD, "type": "error", "message": []}),
    ],
)
def test_a_malformed_value_raises_decode_error(value: bytes | None) -> None:
    with pytest.raises(DecodeError):
        events.decode(value)
