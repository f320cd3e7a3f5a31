"""An incremental Server-Sent Events parser (the WHATWG event-stream rules): bytes in, whole
messages out, whatever the network's chunking. Pure: no I/O, so it is tested byte by byte.

Lines are split on bytes before decoding, so a UTF-8 character split across two reads arrives
whole (`\\r` and `\\n` never occur inside a multi-byte sequence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.client.errors import ProtocolError

BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n|\r|\n")
# A line this long is not an event the edge sends (its largest, a tool call, is ~256 KiB): a
# misbehaving server must not make the reader buffer without bound.
MAX_LINE = 16 << 20


@dataclass(frozen=True, slots=True)
class Message:
    """One dispatched event: its type (`message` if none was given), its data lines joined by
    newlines, and the last event id the stream had set when it was dispatched."""

    event: str
    data: str
    id: str | None


class Parser:
    """Feed it chunks as they come; it returns the messages each chunk completed.

    `retry_ms` is the server's latest valid `retry:` field (None until one came), `comments`
    counts comment lines (`: ping`). One parser per connection: what a dropped connection left
    half-sent is discarded with it, as the spec says."""

    def __init__(self) -> None:
        self.retry_ms: int | None = None
        self.comments = 0
        self.last_id: str | None = None
        self._buffer = b""
        self._started = False  # the BOM check is done
        self._skip_lf = False  # the last chunk ended in \r: a \n opening the next is its pair
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[Message]:
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        data = self._buffer + chunk if self._buffer else chunk
        if not self._started:
            if len(data) < len(BOM) and BOM.startswith(data):
                self._buffer = data
                return []
            self._started = True
            if data.startswith(BOM):
                data = data[len(BOM) :]
        out: list[Message] = []
        start = 0
        for end in _LINE_END.finditer(data):
            message = self._line(data[start : end.start()])
            if message is not None:
                out.append(message)
            start = end.end()
        self._buffer = data[start:]
        if len(self._buffer) > MAX_LINE:
            raise ProtocolError(f"an SSE line longer than {MAX_LINE} bytes")
        if data[-1:] == b"\r":
            self._skip_lf = True
        return out

    def _line(self, raw: bytes) -> Message | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        # Any other field is ignored, as the spec says.
        return None

    def _dispatch(self) -> Message | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None  # a blank line after only `id:`/`retry:`/comments dispatches nothing
        return Message(event or "message", "\n".join(data), self.last_id)
