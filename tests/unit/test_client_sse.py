"""The client's SSE parser: golden bytes in, messages out, however the bytes are chunked."""

from __future__ import annotations

import pytest

from app.client.errors import ProtocolError
from app.client.sse import Message, Parser
from app.edge import sse
from app.events import Event

# What the edge sends (app/edge/sse.py), with what clients meet elsewhere: a BOM, every line
# ending, comments, `retry:`, multi-line data, multi-byte UTF-8, fields without a space.
GOLDEN = (
    b"\xef\xbb\xbf: hello\n\n"
    b"retry: 1500\n\n"
    b'id: 1\nevent: delta\ndata: {"text":"Gr\xc3\xbc\xc3\x9fe \xf0\x9f\x9a\x80"}\n\n'
    b": ping\r\n\r\n"
    b"id: 2\r\nevent: delta\r\ndata: line one\r\ndata: line two\r\n\r\n"
    b"id:3\revent:done\rdata:{}\r\r"
    b"data\n\n"
    b"data:  two spaces\nid: 4\x00x\n\n"
)
EXPECTED = [
    Message("delta", '{"text":"Grüße 🚀"}', "1"),
    Message("delta", "line one\nline two", "2"),
    Message("done", "{}", "3"),
    Message("message", "", "3"),
    Message("message", " two spaces", "3"),  # one space stripped; an id with NUL ignored
]


def parse(chunks: list[bytes]) -> tuple[list[Message], Parser]:
    parser = Parser()
    out: list[Message] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser


def test_golden_bytes_in_one_chunk() -> None:
    messages, parser = parse([GOLDEN])
    assert messages == EXPECTED
    assert parser.retry_ms == 1500
    assert parser.comments == 2


@pytest.mark.parametrize("cut", range(1, len(GOLDEN)))
def test_golden_bytes_split_at_every_boundary(cut: int) -> None:
    messages, parser = parse([GOLDEN[:cut], GOLDEN[cut:]])
    assert messages == EXPECTED
    assert parser.retry_ms == 1500


def test_golden_bytes_one_byte_at_a_time_with_empty_chunks() -> None:
    chunks = [b for i in range(len(GOLDEN)) for b in (GOLDEN[i : i + 1], b"")]
    assert parse(chunks)[0] == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # A \r ending a chunk and the \n opening the next are one line end, not a blank line.
    messages, _ = parse([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert messages == [Message("message", "a\nb", None)]


def test_the_edges_own_frames() -> None:
    frames = [
        sse.frame(Event(rid="r", type="delta", seq=1, ts=1.0, text="x\ny")),
        sse.PING,
        sse.retry_hint(2000),
        sse.frame(Event(rid="r", type="done", seq=2, ts=2.0)),
    ]
    messages, parser = parse(frames)
    assert [(m.event, m.id) for m in messages] == [("delta", "1"), ("done", "2")]
    assert (
        messages[0].data
        == '{"rid":"r","source":"answer","seq":1,"type":"delta","ts":1.0,"text":"x\\ny"}'
    )
    assert parser.retry_ms == 2000
    assert parser.comments == 1


@pytest.mark.parametrize("value", [b"abc", b"-5", b"1.5", b" ", b"\xd9\xa3"])  # last: Arabic 3
def test_invalid_retry_is_ignored(value: bytes) -> None:
    _, parser = parse([b"retry: 10\n\nretry: " + value + b"\n\n"])
    assert parser.retry_ms == 10


def test_an_unfinished_message_is_not_dispatched() -> None:
    messages, _ = parse([b"id: 1\ndata: half"])
    assert messages == []


def test_unknown_fields_are_ignored_and_event_type_resets() -> None:
    messages, _ = parse([b"event: a\nfoo: bar\ndata: 1\n\ndata: 2\n\n"])
    assert messages == [Message("a", "1", None), Message("message", "2", None)]


def test_a_bom_only_at_the_start_is_stripped() -> None:
    messages, _ = parse([b"\xef\xbb", b"\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n"])
    assert [m.data for m in messages] == ["x"]  # the second BOM makes its field name unknown


def test_an_endless_line_is_refused() -> None:
    parser = Parser()
    with pytest.raises(ProtocolError):
        parser.feed(b"data: " + b"x" * (16 << 20))
