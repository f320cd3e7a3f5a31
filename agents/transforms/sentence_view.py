"""The `sentences` view: one `sentence` event per sentence of each source, the moment its end
is certain (agents/transforms/sentences.py decides), the last fragment at the source's end."""

from __future__ import annotations

from agents.transforms.base import Out, PerSource
from agents.transforms.sentences import Segmenter


class Sentences(PerSource):
    def make(self) -> Segmenter:
        return Segmenter()

    def text(self, state: Segmenter, source: str, text: str) -> list[Out]:
        return [{"type": "sentence", "source": source, "text": s} for s in state.push(text)]

    def end(self, state: Segmenter, source: str) -> list[Out]:
        return [{"type": "sentence", "source": source, "text": s} for s in state.flush()]
