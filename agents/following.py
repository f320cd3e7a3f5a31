"""One followed response's views: the transforms it asked for, and how each accepted raw event
becomes view events, numbered with each view's own seq (pure: no I/O, no Kafka).

A transform that raises (a bug, or input it cannot take) ends its view with `error`
`view_failed`, logged, instead of stopping the views agent: the raw stream and the response's
other views go on. The same raw events make it raise again on a replay, so the ending is the
same after a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from agents.lanes import FAILED, Lane, awaits
from agents.transforms.base import Out, Spec
from agents.transforms.registry import transforms
from app import events
from app.events import Event
from app.ordering import Order
from app.settings import Settings

log = logging.getLogger(__name__)
TERMINAL_FIELDS = ("retriable", "code", "message", "status")
FIELDS = ("text", *TERMINAL_FIELDS, "path", "value", "ref", "call_id", "name", "arguments")


@dataclass(slots=True)
class View:
    name: str
    topic: str
    transform: Any  # None: it could not be built (the view ends at its first raw event)
    seq: int = 0
    ended: bool = False
    # A transform with `async def feed` (I/O) runs in a lane of its own (agents/lanes.py).
    awaits: bool = False
    lane: Lane | None = None


@dataclass(slots=True)
class Following:
    """One response whose views this worker writes."""

    rid: str
    partition: int
    views: list[View]
    start: int = 0  # an offset of <prefix>.events at or before its first event
    misses: int = 0  # reads that began past its first event (see Follower._missed)
    rewinding: bool = False  # a seek back to its start is asked for and not applied yet
    order: Order = field(default_factory=Order)

    @property
    def done(self) -> bool:
        return all(v.ended for v in self.views)


def following(settings: Settings, entry: dict[str, Any]) -> Following:
    known = transforms()
    spec = Spec(entry["rid"], entry.get("options") or {}, settings)
    views = [
        View(name, settings.view_topic(name), _build(known[name], spec, name))
        for name in entry["views"]
        if name in known
    ]
    for view in views:
        view.awaits = view.transform is not None and awaits(view.transform)
    return Following(entry["rid"], entry["partition"], views)


def _build(cls: Any, spec: Spec, name: str) -> Any:
    try:
        return cls(spec)
    except Exception:
        log.exception("view %s of %s: its transform could not be built", name, spec.rid)
        return None


def outputs(f: Following, event: Event) -> list[tuple[str, Event]]:
    """The view events one accepted raw event makes in the synchronous views: (topic, event)
    in order. Views that await are fed by their lanes (Follower._lanes)."""
    out: list[tuple[str, Event]] = []
    for view in f.views:
        if not view.ended and not view.awaits:
            out.extend(number(f, view, event, _feed(f, view, event)))
    return out


def _feed(f: Following, view: View, event: Event) -> list[Out]:
    if view.transform is None:
        return [FAILED]
    try:
        made: list[Out] = view.transform.feed(event)
        return made
    except Exception:
        log.exception("view %s of %s failed at raw seq %d", view.name, f.rid, event.seq)
        return [FAILED]


def number(f: Following, view: View, event: Event, made: list[Out]) -> list[tuple[str, Event]]:
    """A view's events for one raw event, numbered, ended by the raw terminal if it is one."""
    out: list[tuple[str, Event]] = []
    if not view.ended:
        if event.terminal:
            made = [*made, {"type": event.type, "source": event.source,
                            **{k: getattr(event, k) for k in TERMINAL_FIELDS}}]  # fmt: skip
        for item in made:
            view.seq += 1
            kind = item["type"]
            ev = Event(f.rid, kind, item.get("source", event.source), view.seq, event.ts,
                       raw_seq=event.seq, **{k: item[k] for k in FIELDS if k in item})  # fmt: skip
            out.append((view.topic, ev))
            if kind in events.TERMINAL_TYPES:
                view.ended = True
                break
    return out
