"""The event envelope's decoder: what the writer encodes comes back equal; every malformed
value raises DecodeError (the edge dead-letters it), never another exception."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import events
from app.contract import index
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


# Values near the real ones, so the decoders' later checks are reached, not only the first.
NAMES = sorted({*GOOD, *events._OPTIONAL, *events._STRUCTURED, *events._ACCOUNTING, "value",
                "state", "partition", "created", "first", "last", "views", "options", "summary",
                "cached_from", "conversation", "id", "turn"})  # fmt: skip
ATOMS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.sampled_from(sorted(events.ALL_TYPES | index.STATES)) | st.text(max_size=5)
)  # fmt: skip
JSON = st.recursive(
    ATOMS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)
VALUES = (
    st.none() | st.binary()
    | st.dictionaries(st.sampled_from(NAMES), JSON, max_size=12).map(orjson.dumps)
    | JSON.map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS))
)  # fmt: skip


@given(VALUES)
def test_any_bytes_are_an_event_or_decode_error(value: bytes | None) -> None:
    try:
        event = events.decode(value)
    except DecodeError:
        return
    assert event.rid and event.seq >= 1 and event.type in events.ALL_TYPES
    assert events.decode(events.encode(event)) == event  # what an edge frames again


@given(VALUES)
def test_any_bytes_are_an_index_record_or_decode_error(value: bytes | None) -> None:
    try:
        record = index.decode(value)
    except DecodeError:
        return
    assert record.rid and record.state in index.STATES
    assert index.decode(record.encode()) == record



@pytest.mark.parametrize(
    "field", [{"partition": -1}, {"partition": 2**31}, {"created": 1e30}, {"ts": -5},
              {"seq": -1}, {"first": -1}, {"last": 2**63}],
)  # fmt: skip
def test_an_index_record_out_of_range_is_a_decode_error(field: dict[str, Any]) -> None:
    # Decodable but absurd: the views agent would time-seek such a `created` (past int64 ms:
    # Kafka's protocol cannot encode it), an edge would read a partition that cannot exist.
    good = {"rid": "r", "state": "open", "partition": 0, "created": 1.0, "ts": 1.0, "seq": 0}
    assert index.decode(orjson.dumps(good)).rid == "r"
    with pytest.raises(DecodeError):
        index.decode(orjson.dumps({**good, **field}))
