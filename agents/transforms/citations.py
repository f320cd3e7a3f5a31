"""The `citations` view: the raw text as `delta` events, and a `citation` event (`ref`: the
source) after the delta that completes each marker such as `[1]`, `[1, 3]` or `[1][2]`.

A marker names sources by position in the request's `sources` (from 1) or by a source's own
`id` (an id wins over a position). Names that match no source cite nothing: a marker with no
known name stays plain text and makes no event. Text that may still become a marker (`[1`,
`[1, `) is held until it is decided, which is at most MAX_MARKER characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.transforms.base import Out, PerSource, Spec, delta
from app.sources import ID_CHARS, MAX_ID_CHARS

NAME = rf"[{ID_CHARS}]{{1,{MAX_ID_CHARS}}}"
# At most this many names in one bracket: a longer run is text (a list, an array), not a marker.
MAX_NAMES = 16
MARKER = re.compile(rf"\[ ?{NAME}(?: ?, ?{NAME}){{0,{MAX_NAMES - 1}}} ?\]")
# A prefix of a marker: what is held back while the next token may complete it.
PARTIAL = re.compile(rf"\[ ?(?:{NAME}(?: ?, ?(?:{NAME})?)*)? ?")
MAX_MARKER = 2 + MAX_NAMES * (MAX_ID_CHARS + 3)


@dataclass(slots=True)
class _Held:
    held: str = ""  # text that may be the start of a marker


class Citations(PerSource):
    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        sources: list[dict[str, Any]] = spec.options.get("sources") or []
        self.by_name: dict[str, dict[str, Any]] = {}
        for n, source in enumerate(sources, start=1):
            self.by_name.setdefault(str(n), source)
        for source in sources:  # an id wins over a position
            self.by_name[str(source["id"])] = source

    def make(self) -> _Held:
        return _Held()

    def text(self, state: _Held, source: str, text: str) -> list[Out]:
        return self._scan(state, source, state.held + text, final=False)

    def end(self, state: _Held, source: str) -> list[Out]:
        return self._scan(state, source, state.held, final=True)

    def _scan(self, state: _Held, source: str, text: str, final: bool) -> list[Out]:
        out: list[Out] = []
        start = 0  # text before this has been released
        at = text.find("[")
        while at >= 0:
            marker = MARKER.match(text, at)
            refs = self._refs(marker.group()) if marker else []
            if marker and refs:
                out.extend(delta(source, text[start : marker.end()]))
                out.extend({"type": "citation", "source": source, "ref": r} for r in refs)
                start = marker.end()
                at = text.find("[", start)
                continue
            if not final and not marker and _may_grow(text, at):
                state.held = text[at:]
                return [*out, *delta(source, text[start:at])]
            at = text.find("[", at + 1)
        state.held = ""
        return [*out, *delta(source, text[start:])]

    def _refs(self, marker: str) -> list[dict[str, Any]]:
        names = (n.strip() for n in marker[1:-1].split(","))
        found = [self.by_name[n] for n in names if n in self.by_name]
        return list({id(r): r for r in found}.values())  # `[1, 1]` cites once


def _may_grow(text: str, at: int) -> bool:
    """Whether text[at:] (from a `[`) could still become a marker with more text."""
    rest = len(text) - at
    return rest < MAX_MARKER and PARTIAL.fullmatch(text, at) is not None
