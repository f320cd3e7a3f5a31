"""The moderated view's seam: a `Classifier` judges text before a reader may see it.

Two are built in: `Rules` (the server's and the request's `block` regexes; pure, so the view
stays a plain synchronous transform) and `ModerationEndpoint` (an OpenAI-compatible
`POST {base}/moderations`, in agents/transforms/moderation_api.py), which needs I/O and so
makes the view asynchronous (agents/transforms/screened.py, run by agents/lanes.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...] = ()  # why, in the classifier's own words


CLEAN = Verdict(False)


class ClassifierUnavailable(Exception):
    """The classifier gave no verdict (down, timed out, an answer it could not read)."""


class Classifier(Protocol):
    async def classify(self, text: str) -> Verdict:
        """The verdict on `text`; raises ClassifierUnavailable when there is none."""
        ...

    async def aclose(self) -> None: ...


class Rules:
    """Regexes: a match anywhere flags the text. `check` is the synchronous form the
    moderated view calls inline on every token (no await per token for a pure rule list)."""

    def __init__(self, block: re.Pattern[str] | None) -> None:
        self.block = block

    def check(self, text: str) -> Verdict:
        if self.block is not None and self.block.search(text):
            return Verdict(True, ("rule",))
        return CLEAN

    async def classify(self, text: str) -> Verdict:
        return self.check(text)

    async def aclose(self) -> None:
        return None
