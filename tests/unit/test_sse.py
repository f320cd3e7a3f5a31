from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import events
from app.edge import sse
from app.errors import BadCursor
from app.events import Event


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            Event(rid="r", type="delta", seq=3, ts=1.5, text="hi\nthere"),
            b'id: 3\nevent: delta\ndata: {"rid":"r","source":"answer","seq":3,"type":"delta",'
            b'"ts":1.5,"text":"hi\\nthere"}\n\n',
        ),
        (
            Event(rid="r", type="error", seq=9, ts=2.0, retriable=True, code="x", message="m"),
            b'id: 9\nevent: error\ndata: {"rid":"r","source":"answer","seq":9,"type":"error",'
            b'"ts":2.0,"retriable":true,"code":"x","message":"m"}\n\n',
        ),
        (
            Event(rid="r", type="source.done", source="tool:a", seq=1, ts=0.0),
            b'id: 1\nevent: source.done\ndata: {"rid":"r","source":"tool:a","seq":1,'
            b'"type":"source.done","ts":0.0}\n\n',
        ),
    ],
)
def test_frame_golden_bytes(event: Event, expected: bytes) -> None:
    assert sse.frame(event) == expected


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [(None, None, 0), ("700", None, 700), (None, "12", 12), ("5", "9", 5), (" 7 ", None, 7)],
)
def test_parse_cursor(header: str | None, query: str | None, expected: int) -> None:
    assert sse.parse_cursor(header, query) == expected


@pytest.mark.parametrize("bad", ["abc", "-1", "1e3", "1.0", "0x10", "9" * 19, "１２"])
def test_malformed_cursor_is_rejected(bad: str) -> None:
    with pytest.raises(BadCursor):
        sse.parse_cursor(bad, None)


def test_frame_reuses_the_stored_value_and_never_sends_a_raw_newline() -> None:
    event = Event(rid="r", type="delta", seq=4, ts=1.0, text="a\nb")
    stored = events.encode(event)
    assert sse.frame(event, stored) == sse.frame(event)
    multi_line = b'{"rid": "r",\n "seq": 4}'  # not the writer's encoding: re-encode it
    assert sse.frame(event, multi_line) == sse.frame(event)


def test_writes_join_frames_up_to_the_limit_and_never_split_one() -> None:
    frames = [b"a" * 40, b"b" * 40, b"c" * 100, b"d" * 10, b"e" * 10]
    out = list(sse.writes(frames, limit=90))
    assert out == [b"a" * 40 + b"b" * 40, b"c" * 100, b"d" * 10 + b"e" * 10]
    assert list(sse.writes([], limit=90)) == []


# Last-Event-ID arrives as latin-1 text (any byte), `?after=` as any unicode.
RAW = st.none() | st.text() | st.binary().map(lambda b: b.decode("latin-1"))


@given(RAW, RAW)
def test_any_cursor_is_a_position_or_bad_cursor(header: str | None, query: str | None) -> None:
    try:
        at = sse.parse_cursor(header, query)
    except BadCursor:
        return
    assert type(at) is int and 0 <= at < 10**18


@given(st.integers(0, 10**18 - 1), st.sampled_from(["", " ", "\t"]))
def test_a_decimal_cursor_reads_back(seq: int, pad: str) -> None:
    assert sse.parse_cursor(f"{pad}{seq}{pad}", None) == seq
    assert sse.parse_cursor(None, str(seq)) == seq

