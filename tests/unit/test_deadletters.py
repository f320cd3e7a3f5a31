"""What makes a record a dead letter outside the event envelope (control records), and the
edge's count of dead letters: by the topic they came from, each origin once however many edges
dead-lettered it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter

from app.contract import control
from app.edge.dead_count import DeadLetterCount
from app.errors import DecodeError
from app.settings import Settings


@pytest.mark.parametrize(
    "value", [None, b"", b"\xff", b"[]", b'{"action": "cancel"}', b'{"rid": "r"}',
              b'{"rid": "", "action": "cancel"}', b'{"rid": "r", "action": 1}'],
)  # fmt: skip
def test_what_is_not_a_control_record(value: bytes | None) -> None:
    with pytest.raises(DecodeError):
        control.decode(value)


def test_control_records_of_any_action_decode() -> None:
    assert control.decode(b'{"rid": "r", "action": "cancel"}').rid == "r"
    assert control.decode(b'{"rid": "r", "action": "pause"}').action == "pause"  # later ones


@given(st.binary() | st.none())
def test_any_bytes_are_a_control_record_or_decode_error(value: bytes | None) -> None:
    try:
        control.decode(value)
    except DecodeError:
        pass


def test_each_origin_counts_once_under_its_topic() -> None:
    registry = CollectorRegistry()
    counter = Counter("deadletters", "", ["topic"], registry=registry)
    count = DeadLetterCount(Settings(topic_prefix="p"), counter, 1)
    for origin in (b"p.events/3/17", b"p.events/3/17", b"p.events/3/18", b"p.views.plain/0/1"):
        count.count([("error", b"x"), ("origin", origin)])  # the second from another edge
    count.count([("error", b"no origin")])
    value = registry.get_sample_value
    assert value("deadletters_total", {"topic": "events"}) == 2
    assert value("deadletters_total", {"topic": "views.plain"}) == 1
    assert value("deadletters_total", {"topic": "unknown"}) == 1
