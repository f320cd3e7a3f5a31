"""The `markdown` view: the raw text as it streams, made well formed at its end: an unclosed code
fence is closed and a last list item or line gets its newline, so a renderer that only renders
whole blocks shows everything."""

from __future__ import annotations

from dataclasses import dataclass

from agents.transforms.base import Out, PerSource, delta

FENCE = "```"


@dataclass(slots=True)
class _Text:
    in_fence: bool = False
    line: str = ""  # the current line, up to what is needed to know if it opens a fence
    last: str = ""  # the last character seen


class Markdown(PerSource):
    def make(self) -> _Text:
        return _Text()

    def text(self, state: _Text, source: str, text: str) -> list[Out]:
        for line_part in text.splitlines(keepends=True):
            if len(state.line) < len(FENCE) + 1:
                state.line += line_part[: len(FENCE) + 1]
            if line_part.endswith("\n"):
                if state.line.lstrip().startswith(FENCE):
                    state.in_fence = not state.in_fence
                state.line = ""
        state.last = text[-1]
        return delta(source, text)

    def end(self, state: _Text, source: str) -> list[Out]:
        if state.line.lstrip().startswith(FENCE):  # a fence line with no newline yet
            state.in_fence = not state.in_fence
        tail = "" if state.last in ("\n", "") else "\n"
        if state.in_fence:
            tail += FENCE + "\n"
        return delta(source, tail)
