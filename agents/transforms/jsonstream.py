"""An incremental JSON splitter for one streamed document: it yields each top-level member of an
object or item of an array the moment that value closes, parsed by orjson from its own slice,
and each item of a member's array value (`/steps/0`) as it closes, before the whole member.

The scanner tracks only strings, the bracket stack and top-level punctuation; orjson parses each
completed value once: 0.44 µs a 4-character token (ijson 0.21 but a token late, jiter 1.85 and
growing with the document: agents/transforms/README.md).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from agents.transforms.jsonvalues import Broken, Value, pointer

# Outside strings only these characters matter; inside one, the quote and the escape.
_OUTSIDE = re.compile(r'[\[\]{}",:]')
_INSIDE = re.compile(r'["\\]')
_FENCE_OPEN = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\r?\n")
_TRAILER = re.compile(r"\s*(?:```\s*)?")  # what may follow the document
_TRAILER_SO_FAR = re.compile(r"\s*(?:`{1,2}|```\s*)?")
_KEY = re.compile(r'\s*("(?:[^"\\]|\\.)*")')
_SCALAR_STARTS = frozenset('"-0123456789tfn')
_CLOSERS = {"}": "{", "]": "["}
MAX_PREAMBLE = 64  # a fence line longer than this is not a fence


class JsonStream:
    """Feed text pieces with `push`, then `end` at the source's end. Both return the values
    completed, then a Broken where the text stopped being JSON (nothing is read after it)."""

    def __init__(self) -> None:
        self.buf = ""  # from the start of the current member (or the document, before it)
        self.pos = 0  # scanned up to here
        self.offset = 0  # characters dropped from the front of buf, for error positions
        self.kind = ""  # "" not started, "{" / "[" a container, "s" a scalar, "." finished
        self.shape = ""  # what the document is: "{", "[" or "s" once it began
        self.stack: list[str] = []
        self.in_string = False
        self.colon = False  # the current object member has its ':'
        self.emitted = False  # the current member was emitted already (closed before its ',')
        self.index = 0
        self.key: str | None = None
        # The items of the current member's array value: the next index (-1: not in one), where
        # the current item starts in buf, whether it was emitted, the member's key.
        self.inner = -1
        self.inner_start = 0
        self.inner_done = False
        self.inner_key: str | None = None

    def push(self, text: str) -> list[Value | Broken]:
        # One call deep on the common path (inside a container): the calls were most of its cost.
        out: list[Value | Broken] = []
        self.out = out
        self.buf += text
        try:
            if self.kind == "{" or self.kind == "[":
                self._scan()
            elif self.kind == "!":
                return out
            elif not self.kind:
                if self._begin():
                    self._scan()
            elif self.kind == "." and _TRAILER_SO_FAR.fullmatch(self.buf) is None:
                raise Broken("", f"text after the JSON document at char {self.offset}")
        except Broken as exc:
            self._broken(exc)
        return out

    def end(self) -> list[Value | Broken]:
        self.out = []
        if self.kind != "!":
            try:
                self._end()
            except Broken as exc:
                self._broken(exc)
        return self.out

    def _broken(self, exc: Broken) -> None:
        self.kind = "!"  # nothing after the break is read
        self.buf = ""
        self.out.append(exc)

    def _end(self) -> None:
        if self.kind == "s":
            body = self.buf.rstrip()
            if body.endswith("```"):
                body = body[:-3]
            self.out.append(Value(None, self._loads(body, "")))
        elif self.kind == ".":
            if _TRAILER.fullmatch(self.buf) is None:
                raise Broken("", f"text after the JSON document at char {self.offset}")
        else:
            where = "" if not self.kind else self._path()
            raise Broken(where, "the text ended before the JSON document did")

    def _begin(self) -> bool:
        """Find where the document starts; True if it opened a container (scan it now)."""
        stripped = self.buf.lstrip()
        if stripped.startswith("`"):
            fence = _FENCE_OPEN.match(stripped)
            if fence is None:
                if "\n" in stripped or len(stripped) > MAX_PREAMBLE:
                    raise Broken("", "a ``` fence that does not open a JSON block")
                return False  # the fence line is not complete yet
            stripped = stripped[fence.end() :].lstrip()
        if not stripped:
            return False
        self._drop(len(self.buf) - len(stripped))
        first = self.buf[0]
        self.shape = first if first in "{[" else "s"
        if first in "{[":
            self.kind = first
            self.stack = [first]
            self._drop(1)
            return True
        if first in "]}":
            raise Broken("", f"unexpected {first!r} at char {self.offset}")
        if first not in _SCALAR_STARTS:
            raise Broken("", f"not JSON at char {self.offset}: it starts with {first!r}")
        self.kind = "s"  # a number, string, true, false or null: parsed whole at the end
        return False

    def _drop(self, n: int) -> None:
        self.buf = self.buf[n:]
        self.offset += n
        self.pos = 0

    def _scan(self) -> None:
        out = self.out
        buf, pos, stack = self.buf, self.pos, self.stack
        while True:
            if self.in_string:
                m = _INSIDE.search(buf, pos)
                if m is None:
                    pos = len(buf)
                    break
                pos = m.end()
                if m.group() == "\\":
                    if pos == len(buf):
                        pos -= 1  # the escaped character has not arrived yet
                        break
                    pos += 1
                    continue
                self.in_string = False
                if len(stack) == 1 and self._value_open():
                    out.append(self._member(pos))  # a string value closed
                    buf, pos = self.buf, self.pos
                elif len(stack) == 2 and self.inner >= 0 and not self.inner_done:
                    self._item(pos)
                continue
            m = _OUTSIDE.search(buf, pos)
            if m is None:
                pos = len(buf)
                break
            c, pos = m.group(), m.end()
            if c == '"':
                self.in_string = True
            elif c in "{[":
                stack.append(c)
                if c == "[" and len(stack) == 2 and self.kind == "{" and self._value_open():
                    self._items_begin(pos)
            elif c in "}]":
                if stack[-1] != _CLOSERS[c]:
                    raise Broken(self._path(), f"unexpected {c!r} at char {self.offset + pos - 1}")
                if len(stack) == 2 and self.inner >= 0:
                    self._items_end(pos)
                stack.pop()
                if len(stack) == 2 and self.inner >= 0 and not self.inner_done:
                    self._item(pos)
                if not stack:
                    out.extend(self._close(pos))
                    self.kind = "."
                    if _TRAILER_SO_FAR.fullmatch(self.buf) is None:
                        raise Broken("", f"text after the JSON document at char {self.offset}")
                    return
                if len(stack) == 1 and self._value_open():
                    out.append(self._member(pos))  # a container value closed
                    buf, pos = self.buf, self.pos
            elif len(stack) == 1:
                if c == ":":
                    self.colon = True
                elif c == ",":
                    out.extend(self._close(pos))
                    buf, pos = self.buf, self.pos
            elif c == "," and len(stack) == 2 and self.inner >= 0:
                if not self.inner_done:
                    self._item(pos - 1)
                self.inner += 1
                self.inner_start, self.inner_done = pos, False
        self.pos = pos

    def _items_begin(self, pos: int) -> None:
        self.inner_key = _read_key(self.buf)
        if self.inner_key is not None:
            self.inner, self.inner_start, self.inner_done = 0, pos, False

    def _items_end(self, pos: int) -> None:
        if not self.inner_done and self.buf[self.inner_start : pos - 1].strip():
            self._item(pos - 1)
        self.inner = -1

    def _item(self, end: int) -> None:
        """An item of the member's array closed at `end`. A slice that does not parse stops the
        items: the member's own parse, at its end, says what is wrong."""
        try:
            value = orjson.loads(self.buf[self.inner_start : end])
        except orjson.JSONDecodeError:
            self.inner = -1
            return
        self.out.append(Value(self.inner_key, value, self.inner))
        self.inner_done = True

    def _value_open(self) -> bool:
        """Whether a string or container closing at the top level is the current value."""
        return not self.emitted and (self.colon or self.kind == "[")

    def _member(self, end: int) -> Value:
        """The current member's value closed at `end` (its ',' or closer may follow later)."""
        text = self.buf[:end]
        if self.kind == "{":
            parsed = self._loads("{" + text + "}", self._key_path(text), shift=1)
            if len(parsed) != 1:
                raise Broken(self._key_path(text), "an object member is not one key: value")
            ((key, value),) = parsed.items()
            self.key = key
            got = Value(key, value)
        else:
            got = Value(self.index, self._loads(text, pointer(self.index)))
        self.emitted = True
        self._drop(end)
        return got

    def _close(self, end: int) -> list[Value]:
        """A ',' or the closing bracket at `end - 1`: the member before it is over."""
        between = self.buf[: end - 1]
        out: list[Value] = []
        if self.emitted:
            if between.strip():
                raise Broken(self._path(), f"unexpected text at char {self.offset}")
            self._drop(end)
        elif between.strip():
            out.append(self._member(end - 1))
            self._drop(1)
        elif self.buf[end - 1] == "," or self.index:
            # an empty member (`[,` `{"a": 1,}`): only a bare `{}` or `[]` has none
            raise Broken(self._path(), f"a missing value at char {self.offset + end - 1}")
        else:
            self._drop(end)
        if self.emitted:
            self.index += 1
        self.emitted = False
        self.colon = False
        return out

    def _loads(self, text: str, path: str, shift: int = 0) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            at = self.offset + max(0, min(exc.pos - shift, len(self.buf)))
            raise Broken(path, f"not JSON at char {at}: {exc.msg}") from None

    def _key_path(self, text: str) -> str:
        key = _read_key(text)
        return "" if key is None else pointer(key)

    def _path(self) -> str:
        """Where the text broke: the current member or item (a container is open)."""
        if self.kind == "[":
            return pointer(self.index)
        if self.emitted:
            return "" if self.key is None else pointer(self.key)
        return self._key_path(self.buf)


def _read_key(text: str) -> str | None:
    """The key of the object member `text` begins with, if it is readable yet."""
    head = _KEY.match(text)
    try:
        key = orjson.loads(head.group(1)) if head else None
    except orjson.JSONDecodeError:
        return None
    return key if isinstance(key, str) else None
