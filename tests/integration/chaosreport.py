"""The chaos tests' phases and their numbers: per phase, the events delivered and their latency
(p50/p99, receive time minus the writer's `ts`), and after a fault the time to each reader's next
event (all readers in progress at the fault, and those whose connection broke), as markdown."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from .chaosload import Reader, percentile


@dataclass
class Phase:
    name: str
    start: float = field(default_factory=time.monotonic)
    fault: float | None = None
    end: float = 0.0
    notes: list[str] = field(default_factory=list)
    loses_writers: bool = False  # a fault that may end responses with producer_lost

    def affected(self, r: Reader) -> bool:
        """In progress at the fault, or created during the phase after it."""
        if self.fault is None:
            return False
        return r.in_progress_at(self.fault) or self.fault <= r.created < self.end

    def note(self, text: str) -> None:
        self.notes.append(text)

    def row(self, readers: list[Reader]) -> str:
        lat = [e.latency_ms for r in readers for e in r.events if self.start <= e.recv < self.end]
        cells = [
            self.name,
            str(len(lat)),
            f"{percentile(lat, 0.5):.0f} / {percentile(lat, 0.99):.0f}",
        ]
        if self.fault is None:
            cells += ["", "", ""]
        else:
            t = self.fault
            waiting = [r for r in readers if r.in_progress_at(t)]
            broke = [r for r in waiting if any(t <= c < self.end for c in r.reconnects)]
            cells += [str(len(waiting)), _spread(waiting, t), f"{len(broke)}: {_spread(broke, t)}"]
        cells.append(self._longest_waits(readers))
        lost = sum(
            1 for r in readers
            if r.events[-1].type == "error" and self.start <= r.events[-1].recv < self.end
        )  # fmt: skip
        if lost:
            self.note(f"{lost} responses ended `producer_lost` in it")
        cells.append("; ".join(self.notes))
        return "| " + " | ".join(cells) + " |"

    def _longest_waits(self, readers: list[Reader]) -> str:
        """Per reader streaming in the phase, its longest wait between two events in it."""
        waits = []
        for r in readers:
            times = [e.recv for e in r.events if self.start <= e.recv < self.end]
            if len(times) > 1:
                waits.append(max(b - a for a, b in zip(times, times[1:], strict=False)))
        if not waits:
            return "-"
        return f"{percentile(waits, 0.5):.2f} / {max(waits):.2f}"


HEADER = (
    "| phase | events | latency p50 / p99 ms | readers in progress at the fault | their next "
    "event after it, p50 / max s | readers that reconnected: next event p50 / max s | "
    "each reader's longest wait between two events, p50 / max s | notes |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _spread(readers: list[Reader], t: float) -> str:
    gaps = [g for r in readers if (g := r.next_after(t)) is not None]
    if not gaps:
        return "-"
    return f"{percentile(gaps, 0.5):.2f} / {max(gaps):.2f}"


def table(phases: list[Phase], readers: list[Reader]) -> str:
    return "\n".join([HEADER, *(p.row(readers) for p in phases)])


def counts(readers: list[Reader], create_retries: int, log_duplicates: int) -> str:
    """The totals line under a table."""
    ends = Counter(
        r.events[-1].type + (f" ({r.events[-1].code})" if r.events[-1].code else "")
        for r in readers
    )
    answers: Counter[int] = Counter()
    for r in readers:
        answers.update(r.answers)
    events = sum(len(r.events) for r in readers)
    return (
        f"{len(readers)} responses, {events} events delivered, 0 lost, 0 duplicated; ends: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(ends.items()))
        + f"; reconnects {sum(len(r.reconnects) for r in readers)}"
        + (f", answers on resume {dict(sorted(answers.items()))}" if answers else "")
        + f"; POSTs retried {create_retries}; duplicate seqs in the events topic {log_duplicates}"
    )
