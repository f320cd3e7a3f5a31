"""The `plain` view, for speech: markdown markup stripped (headings, quotes, list markers,
emphasis, inline code, rules; links keep their text), fenced code skipped or announced
(setting `plain_code`).

A line's start is held until it says what the line is (its first word, or for code its whole
line); the rest of a line is released a whole word at a time, so markup split across tokens
(`**bo` + `ld**`) is stripped the same way however the model cut it. A link is held until its
`)` or the line's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.transforms.base import Out, PerSource, Spec, delta

FENCE = "```"
ANNOUNCE = "Code block.\n"
BLOCK = re.compile(r"[ \t]{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d{1,9}[.)]\s+)")
RULE = re.compile(r"[ \t]{0,3}(?:[-*_]\s*){3,}")
LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
EMPHASIS = re.compile(r"\*\*|__|\*|`|~~")
FIRST_WORD = re.compile(r"[ \t]*\S+\s")


@dataclass(slots=True)
class _Lines:
    pending: str = ""  # text not released yet
    at_line_start: bool = True
    in_fence: bool = False


class Plain(PerSource):
    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.announce = spec.settings.plain_code == "announce"

    def make(self) -> _Lines:
        return _Lines()

    def text(self, state: _Lines, source: str, text: str) -> list[Out]:
        state.pending += text
        return delta(source, self._release(state, final=False))

    def end(self, state: _Lines, source: str) -> list[Out]:
        return delta(source, self._release(state, final=True))

    def _release(self, state: _Lines, final: bool) -> str:
        out: list[str] = []
        while state.pending:
            newline = state.pending.find("\n")
            whole = newline >= 0 or final
            if state.at_line_start:
                head = state.pending
                stripped = head.lstrip(" \t")
                if (
                    stripped.startswith(FENCE)
                    or state.in_fence
                    or stripped[:2] in ("--", "**", "__")
                ):
                    if not whole:
                        break  # code, a fence or a rule is known only from its whole line
                    line = head if newline < 0 else head[: newline + 1]
                    state.pending = head[len(line) :]
                    body = line.strip()
                    if body.startswith(FENCE):
                        state.in_fence = not state.in_fence
                        out.append(ANNOUNCE if state.in_fence and self.announce else "")
                        continue
                    if state.in_fence:
                        continue
                    if RULE.fullmatch(body):
                        continue
                    state.pending = line + state.pending  # bold text at a line's start
                elif not whole and not FIRST_WORD.match(head):
                    break
                marker = BLOCK.match(state.pending)
                if marker:
                    state.pending = state.pending[marker.end() :]
                state.at_line_start = False
                continue
            if newline >= 0:
                line, state.pending = state.pending[: newline + 1], state.pending[newline + 1 :]
                out.append(_inline(line))
                state.at_line_start = True
            elif final:
                out.append(_inline(state.pending))
                state.pending = ""
            else:
                out.append(self._words(state))
                break
        return "".join(out)

    def _words(self, state: _Lines) -> str:
        cut = max(state.pending.rfind(" "), state.pending.rfind("\t")) + 1
        link = state.pending.rfind("[", 0, cut)
        if link >= 0 and ")" not in state.pending[link:cut]:
            cut = link
        ready, state.pending = state.pending[:cut], state.pending[cut:]
        return _inline(ready)


def _inline(text: str) -> str:
    return EMPHASIS.sub("", LINK.sub(r"\1", text))
