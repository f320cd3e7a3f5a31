"""Incremental sentence segmentation of one source's streamed text: `Segmenter` cuts the text
into sentences (with their trailing whitespace) as soon as each end is certain. Pure: no I/O.

A cut is decided from the text alone, never from where the pieces happened to split it: a scan
stops before any decision that needs text not yet seen, and resumes there on the next push. The
rules and the delay each one costs are listed in agents/transforms/README.md ("sentences").
"""

from __future__ import annotations

import re

_TERMINAL = ".?!…"
_CJK = "。！？"
_CLOSERS = ")]}\"'»”’」』）*_"

# Words after which a period never ends a sentence: titles as written ("Ms." but "12 ms."),
# the rest lowercased; both without their last dot.
_TITLES = frozenset("Mr Mrs Ms Dr Prof Mme Hr Fr Sr Sra Srta St Nr Fig".split())
_NEVER = frozenset("cf vs approx ca e.g i.e z.b d.h".split())
# Abbreviations that end a sentence only when a typical sentence opener follows them.
_MAYBE = frozenset("u.s u.k a.m p.m inc ltd co jr ee.uu".split())
_OPENERS = frozenset(
    "the a an this that these those it its we i he she they you our my his her their in on at"
    " for but and so if when then there here as after before what how why no yes".split()
)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")
_WORD = re.compile(r"[^\W\d_]+")
_LIST_NUMBER = re.compile(r"[ \t]*(?:#{1,6}[ \t]+|[-*+>][ \t]+)*\d+(?:\.\d+)*")
# A line that is a unit on its own: its newline ends a sentence whatever precedes it.
_UNIT_LINE = re.compile(r"[ \t]*(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,9}[.)][ \t]|\|)")
_BLOCK_START = re.compile(r"```|~~~|#{1,6}[ \t]|[-*+][ \t]|\d{1,9}[.)][ \t]|\|")
_BLOCK_PREFIX = re.compile(r"`{1,2}|~{1,2}|#{1,6}|[-*+]|\d{1,9}[.)]?")
_FENCE_OPEN = re.compile(r"[ \t]{0,3}(```|~~~)")
_FENCE_CLOSE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})[ \t\r]*")

_MORE = -1  # a decision needs text that has not arrived yet
_NO = -2  # no sentence ends here


class Segmenter:
    """Cuts one source's streamed text into sentences as soon as each end is certain."""

    def __init__(self) -> None:
        self._buf = ""  # text not yet emitted; it starts at the current sentence's start
        self._pos = 0  # where the scan resumes in _buf
        self._line: int | None = 0  # where the current line starts in _buf (None: before it)
        self._unit = False  # the current line, whose start was emitted already, is a unit line
        self._fence = ""  # the open fence's marker (``` or ~~~), "" outside fenced code

    def push(self, text: str) -> list[str]:
        """Feeds the next piece; returns the sentences it completed (maybe [])."""
        self._buf += text
        return self._scan(final=False)

    def flush(self) -> list[str]:
        """Ends the stream: returns the sentences left, the last fragment included."""
        out = self._scan(final=True)
        if self._buf:
            out.append(self._buf)
        self._buf, self._pos, self._line, self._unit, self._fence = "", 0, 0, False, ""
        return out

    def _scan(self, final: bool) -> list[str]:
        out: list[str] = []
        buf, i = self._buf, self._pos
        while i < len(buf):
            c = buf[i]
            if c == "\n":
                end = self._newline(buf, i, final)
            elif self._fence or not (c in _TERMINAL or c in _CJK):
                end = _NO
            else:
                end, i = self._terminal(buf, i, final)
            if end == _MORE:
                break
            if end == _NO:
                i += 1
                continue
            out.append(buf[:end])
            if "\n" in buf[i:end]:
                self._line, self._unit = 0, False
            else:  # cut inside a line: remember what kind of line it is before losing its start
                if self._line is not None:
                    self._unit = bool(_UNIT_LINE.match(buf, self._line, end))
                self._line = None
            buf, i = buf[end:], 0
        self._buf, self._pos = buf, i
        return out

    def _newline(self, buf: str, i: int, final: bool) -> int:
        """The newline at i: enters or leaves fenced code, or ends a unit line or a paragraph."""
        start, self._line = self._line, i + 1
        if self._fence:
            close = start is not None and _FENCE_CLOSE.fullmatch(buf, start, i)
            if not close or close.group(1)[0] != self._fence[0]:
                return _NO
            end = _run_end(buf, i, final)
            if end is None:
                self._line = start
                return _MORE
            self._fence = ""
            return end
        if start is not None and (fence := _FENCE_OPEN.match(buf, start, i)):
            self._fence = fence.group(1)
            return _NO
        end = _run_end(buf, i, final)
        if end is None:
            self._line = start  # undo: this newline is looked at again with more text
            return _MORE
        unit = bool(_UNIT_LINE.match(buf, start, i)) if start is not None else self._unit
        if unit or buf.count("\n", i, end) > 1 or end == len(buf):
            return end
        if _BLOCK_START.match(buf, end):
            return end
        if not final and len(buf) - end < 12 and _BLOCK_PREFIX.fullmatch(buf, end):
            self._line = start
            return _MORE
        return _NO

    def _terminal(self, buf: str, i: int, final: bool) -> tuple[int, int]:
        """Terminal punctuation at i: the sentence end it makes (or _NO/_MORE), and where the
        scan goes on if it makes none (past the punctuation and closing quotes)."""
        j = i
        while j < len(buf) and (buf[j] in _TERMINAL or buf[j] in _CJK):
            j += 1
        while j < len(buf) and buf[j] in _CLOSERS:
            j += 1
        if j == len(buf) and not final:
            return _MORE, i
        cjk = any(ch in _CJK for ch in buf[i:j])
        if j < len(buf) and not buf[j].isspace() and not cjk:
            return _NO, j - 1
        end = _run_end(buf, j, final)
        if end is None:
            return _MORE, i
        if end == len(buf) or cjk:
            return end, i
        if buf[end].islower():  # "etc. and", "approx. five", "wait... what"
            return _NO, j - 1
        if buf[i:j].rstrip(_CLOSERS) != ".":
            return end, i
        if self._line is not None and _LIST_NUMBER.fullmatch(buf, self._line, i):
            return _NO, j - 1  # "1. First" and "## 2. Setup" open a line, they end nothing
        # An abbreviation is short: looking 40 characters back keeps a long URL from costing more.
        word = buf[buf.rfind(" ", max(0, i - 40), i) + 1 : i].rsplit("\n", 1)[-1]
        word = word.lstrip("([{\"'«“‘*_`")
        key = word.lower()
        if word in _TITLES or key in _NEVER:
            return _NO, j - 1
        if key in _MAYBE or (_INITIALS.fullmatch(word) and word[-1].isupper()):
            nxt = _WORD.match(buf, end)
            if nxt is None or (nxt.end() == len(buf) and not final):
                return (_MORE, i) if nxt else (end, i)
            return (end, i) if nxt.group().lower() in _OPENERS else (_NO, j - 1)
        return end, i


def _run_end(buf: str, j: int, final: bool) -> int | None:
    """The end of the whitespace run from j, or None while it may still grow."""
    k = j
    while k < len(buf) and buf[k].isspace():
        k += 1
    return k if k < len(buf) or final else None
