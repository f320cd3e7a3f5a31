"""The transform API: one object per response and view, fed the raw events in seq order.

    class Shout:
        def __init__(self, spec: Spec) -> None: ...
        def feed(self, event: Event) -> list[Out]:
            if event.type == "delta":
                return [{"type": "delta", "source": event.source, "text": event.text.upper()}]
            return []

`feed` returns the view's events for that raw event (`type`, `source` and the type's fields);
the runner adds `rid`, the view's own `seq`, `raw_seq` and `ts`, and ends the view with the raw
stream's terminal event, unless the transform returned a terminal event of its own first.

A transform must be a pure function of the raw events and its spec (no clock, no randomness, no
I/O): after a worker crash the runner rebuilds it by feeding the response's raw events again
from seq 1, and the view's events come out with the same seqs and content, so the readers' rule
(first seq wins) makes any re-sent event harmless. That is what makes a view neither lose nor
repeat an event across a crash, with no per-token state written anywhere.

Register your own with a Python entry point in the group `tokenrelay.views`
(`myview = "mypackage.module:Shout"`): its name becomes a view a request can ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from app import events
from app.events import Event
from app.settings import Settings

Out = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Spec:
    """What a transform may read: the request's view options and the server's settings."""

    rid: str
    options: dict[str, Any] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)


class Transform(Protocol):
    def feed(self, event: Event) -> list[Out]: ...


class PerSource:
    """A transform whose state is per source (multiplexed calls interleave in one response):
    subclasses give `make()` (one source's state), `text(state, source, text)` and `end(state,
    source)`; `source.done` is passed through after that source's end, and a raw stream's
    `tool_call` and `citation` events as they come (a view shows the same calls)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.sources: dict[str, Any] = {}

    def make(self) -> Any:
        raise NotImplementedError

    def text(self, state: Any, source: str, text: str) -> list[Out]:
        raise NotImplementedError

    def end(self, state: Any, source: str) -> list[Out]:
        raise NotImplementedError

    def feed(self, event: Event) -> list[Out]:
        if event.type == "delta" and event.text:
            state = self.sources.get(event.source)
            if state is None:
                state = self.sources[event.source] = self.make()
            return self.text(state, event.source, event.text)
        if event.type == "source.done":
            state = self.sources.pop(event.source, None)
            out = self.end(state, event.source) if state is not None else []
            return [*out, {"type": "source.done", "source": event.source}]
        if event.type in PASSED:
            return [passed(event)]
        if event.terminal:
            ended: list[Out] = []
            for source, state in self.sources.items():
                ended.extend(self.end(state, source))
            self.sources.clear()
            return ended
        return []


PASSED = frozenset({events.TOOL_CALL, events.CITATION})
_PASSED_FIELDS = ("ref", "call_id", "name", "arguments")


def passed(event: Event) -> Out:
    """A raw tool_call or citation event, as a view carries it."""
    out: Out = {"type": event.type, "source": event.source}
    for name in _PASSED_FIELDS:
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    return out


def delta(source: str, text: str) -> list[Out]:
    return [{"type": "delta", "source": source, "text": text}] if text else []
