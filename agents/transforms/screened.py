"""The `moderated` view with an external classifier: the rule view's output (held back, redacted,
rule-blocked: agents/transforms/moderation.py) is released only once a `Classifier` passed it.

The text is judged in chunks, never per token: up to the last sentence or line end, or all of
it once more than the hold-back window waits; the classifier sees the chunk after the last
window of text already released (a phrase across the cut is judged whole). A flagged chunk
ends the view with `error` code `moderated` (its message names the categories); no verdict
ends it with `error` code `moderation_unavailable` (retriable), or releases the chunk when
`moderation_on_error` is `allow`.

`feed` is async, so the views runner gives this view of each response a task of its own
(agents/lanes.py). Unlike the other transforms it is not guaranteed deterministic: replayed
after a worker crash, the endpoint may judge the same text differently. The view's events
already written win (first seq wins), so a reader never sees two versions, but the events the
replay adds may not be the ones the first run would have written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from agents.transforms.base import Out, Spec
from agents.transforms.classifier import Classifier, ClassifierUnavailable
from agents.transforms.moderation import Moderated
from agents.transforms.moderation_api import ModerationEndpoint
from app import errors
from app.events import Event

log = logging.getLogger(__name__)
# A sentence or line end: where a chunk may be cut.
BOUNDARY = re.compile(r"[.!?][\"')\]]*\s|\n")
MIN_CHUNK = 32  # a window of 0 must not mean a request per token


class Screened:
    def __init__(self, spec: Spec, classifier: Classifier) -> None:
        self.rules = Moderated(spec)  # hold-back, redaction and the rule list, run first
        self.classifier = classifier
        self.window = max(MIN_CHUNK, spec.settings.moderation_holdback_chars)
        self.allow_on_error = spec.settings.moderation_on_error == "allow"
        self.pending: dict[str, str] = {}  # passed the rules, not yet the classifier
        self.context: dict[str, str] = {}  # the last window of text released, per source
        self.ended = False

    async def feed(self, event: Event) -> list[Out]:
        if self.ended:
            return []
        out: list[Out] = []
        for item in self.rules.feed(event):
            kind, source = item["type"], item["source"]
            if kind == "delta":
                held = self.pending.get(source, "") + item["text"]
                cut = chunk_end(held, self.window)
                self.pending[source] = held[cut:]
                out.extend(await self._judge(source, held[:cut]))
            else:
                if kind == "source.done":
                    out.extend(await self._flush(source))
                if not self.ended:
                    out.append(item)  # a rule's block ends the view like the classifier's
                    self.ended = kind == "error"
            if self.ended:
                return out
        if event.terminal:
            for source in list(self.pending):
                out.extend(await self._flush(source))
                if self.ended:
                    break
        return out

    async def _flush(self, source: str) -> list[Out]:
        return await self._judge(source, self.pending.pop(source, ""))

    async def _judge(self, source: str, chunk: str) -> list[Out]:
        if not chunk or self.ended:
            return []
        seen = self.context.get(source, "")
        try:
            verdict = await self.classifier.classify(seen + chunk)
        except ClassifierUnavailable as exc:
            if not self.allow_on_error:
                why = f"no moderation verdict, so nothing more is released: {exc}"
                unavailable = errors.ModerationUnavailable
                return self._end(source, unavailable.code, unavailable.retriable, why)
            log.warning("moderation: no verdict, releasing unjudged text: %s", exc)
        else:
            if verdict.flagged:
                named = ", ".join(verdict.categories) or "unspecified"
                why = f"the response was blocked by moderation ({named})"
                return self._end(source, errors.Moderated.code, errors.Moderated.retriable, why)
        self.context[source] = (seen + chunk)[-self.window :]
        return [{"type": "delta", "source": source, "text": chunk}]

    def _end(self, source: str, code: str, retriable: bool, message: str) -> list[Out]:
        self.ended = True
        self.pending.clear()
        err = {"type": "error", "source": source, "retriable": retriable, "code": code}
        return [{**err, "message": message}]

    async def aclose(self) -> None:
        await self.classifier.aclose()


def chunk_end(held: str, window: int) -> int:
    """Where the next chunk ends: after the last sentence or line end, else all of it once it
    is longer than `window`, else 0 (wait for more)."""
    ends = [m.end() for m in BOUNDARY.finditer(held)]
    if ends:
        return ends[-1]
    return len(held) if len(held) > window else 0


def moderated(spec: Spec) -> Any:
    """The `moderated` view: rules only (synchronous), or screened by the endpoint if set."""
    if spec.settings.moderation_url:
        return Screened(spec, ModerationEndpoint(spec.settings))
    return Moderated(spec)
