"""The `moderated` view: what a reader sees has passed every rule first.

Each source's text is held back by `moderation_holdback_chars` (a match longer than that can
slip through half-released: keep rules shorter). `redact` rules replace the matched text with
`[redacted]`; a `block` rule that matches ends the view with `error` code `moderated` (not
retriable) and releases nothing more. Rules are the server's (settings, `||`-separated) plus
the request's own (`"moderation": {"redact": [...], "block": [...]}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.transforms.base import Out, PerSource, Spec, delta
from agents.transforms.classifier import Rules
from app import errors, views
from app.events import Event

REDACTED = "[redacted]"


@dataclass(slots=True)
class _Held:
    held: str = ""  # text not released yet
    seen: str = ""  # the last released text, so a block rule sees across the cut


class Moderated(PerSource):
    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        s = spec.settings
        rules = spec.options.get("moderation") or {}
        self.window = max(0, s.moderation_holdback_chars)
        self.redact = _union([*_split(s.moderation_redact), *rules.get("redact", [])])
        self.rules = Rules(_union([*_split(s.moderation_block), *rules.get("block", [])]))
        self.blocked = False

    def feed(self, event: Event) -> list[Out]:
        if self.blocked:
            return []
        return super().feed(event)

    def make(self) -> _Held:
        return _Held()

    def text(self, state: _Held, source: str, text: str) -> list[Out]:
        state.held += text
        return self._release(state, source, final=False)

    def end(self, state: _Held, source: str) -> list[Out]:
        return self._release(state, source, final=True)

    def _release(self, state: _Held, source: str, final: bool) -> list[Out]:
        if self.rules.block is not None:
            if self.rules.check(state.seen + state.held).flagged:
                self.blocked = True
                self.sources.clear()
                return [{
                    "type": "error", "source": source, "retriable": errors.Moderated.retriable,
                    "code": errors.Moderated.code,
                    "message": "the response was blocked by moderation",
                }]  # fmt: skip
        cut = len(state.held) if final else max(0, len(state.held) - self.window)
        out: list[str] = []
        start = 0
        if self.redact is not None:
            for match in self.redact.finditer(state.held):
                if match.end() > cut or match.end() == match.start():
                    if match.start() < cut:
                        cut = match.start()  # still growing: hold all of it
                    break
                out.append(state.held[start : match.start()])
                out.append(REDACTED)
                start = match.end()
        out.append(state.held[start:cut])
        released = state.held[:cut]
        state.held = state.held[cut:]
        state.seen = (state.seen + released)[-self.window :] if self.window else ""
        return delta(source, "".join(out))


def _split(rules: str) -> list[str]:
    return [r for r in rules.split("||") if r]


def _union(rules: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{views.scoped(r)})" for r in rules)) if rules else None
