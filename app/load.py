"""Load: whether a process is busy, from the rate of records it just handled.

Two places trade a few milliseconds of latency for batching only under load: the edge's fetches
(app/edge/pace.py) and the writer's produce batches (app/producer.py). Quiet, every record goes
out at once; busy, batching cuts the broker's and the client's cost per record several times.
"""

from __future__ import annotations

BUSY_ABOVE = 2000  # records/s that switch batching on ...
QUIET_BELOW = 1000  # ... and off again (apart, so a rate near one does not flap)
WINDOW_S = 0.2


class Load:
    def __init__(self) -> None:
        self.busy = False
        self._count = 0
        self._since = 0.0

    def count(self, records: int, now: float) -> bool:
        """Count records handled at `now` (monotonic seconds); True when `busy` just changed.
        Judged once per WINDOW_S."""
        self._count += records
        elapsed = now - self._since
        if elapsed < WINDOW_S:
            return False
        rate = self._count / elapsed
        self._count, self._since = 0, now
        busy = rate >= (QUIET_BELOW if self.busy else BUSY_ABOVE)
        if busy == self.busy:
            return False
        self.busy = busy
        return True
