"""The one rule every reader of <prefix>.events applies, so that a late writer and the watchdog
can never make two readers disagree: for a response, the first event with a given seq in its
partition wins, and nothing after its terminal event counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.events import Event


@dataclass(slots=True)
class Order:
    """One response's position in the log as a reader folds it, record by record."""

    last: int = 0  # highest seq accepted
    final: int = 0  # seq of the terminal event, once accepted

    def accept(self, event: Event) -> bool:
        """Whether `event` counts: later than everything accepted, and not after the end."""
        if self.final or event.seq <= self.last:
            return False
        self.last = event.seq
        if event.terminal:
            self.final = event.seq
        return True
