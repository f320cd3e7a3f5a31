"""Fetch pacing for the edge's live consumer: answered at once while quiet, filled while busy.

Measured on the 2-core machine (one aiokafka consumer, 15,000 records/s over 6 partitions): a
fetch answered as soon as one byte is there (fetch_min_bytes 1) makes ~800 fetches a second and
costs the consumer 32 µs and the broker 36 µs per record; a fetch the broker holds for 16 KiB
or 5 ms makes ~150 and costs 10 and 15 µs, for at most 5 ms more latency. Idle, though, a 5 ms
hold means 200 empty fetches a second, and at a few hundred records a second it is 5 ms added
to every token for nothing. So the edge switches between the two by the rate it just consumed.

aiokafka reads both values from its fetcher for every request it builds (`_fetch_min_bytes`,
`_fetch_max_wait_ms`; no public setter exists), so that is what this sets. If an aiokafka
release renames them, `attach` says so and the consumer stays in its quiet mode.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
BATCH_BYTES = 16 << 10
QUIET_WAIT_MS = 100  # idle: one empty fetch per 100 ms
BUSY_ABOVE = 2000  # records/s that switch batching on ...
QUIET_BELOW = 1000  # ... and off again (apart, so a rate near one does not flap)
WINDOW_S = 0.2


class Pacer:
    def __init__(self, busy_wait_ms: float) -> None:
        self.busy_wait_ms = int(busy_wait_ms)
        self.busy = False
        self._fetcher: Any = None
        self._count = 0
        self._since = 0.0

    def attach(self, consumer: Any) -> None:
        fetcher = getattr(consumer, "_fetcher", None)
        if self.busy_wait_ms <= 0:
            return
        if not all(hasattr(fetcher, a) for a in ("_fetch_min_bytes", "_fetch_max_wait_ms")):
            log.warning("aiokafka's fetcher has no fetch settings to pace; fetching at once")
            return
        self._fetcher = fetcher

    def consumed(self, records: int, now: float) -> None:
        """Count a getmany's records; every WINDOW_S, switch mode if the rate says so."""
        self._count += records
        elapsed = now - self._since
        if elapsed < WINDOW_S:
            return
        rate = self._count / elapsed
        self._count, self._since = 0, now
        busy = rate >= (QUIET_BELOW if self.busy else BUSY_ABOVE)
        if busy != self.busy and self._fetcher is not None:
            self.busy = busy
            self._fetcher._fetch_min_bytes = BATCH_BYTES if busy else 1
            self._fetcher._fetch_max_wait_ms = self.busy_wait_ms if busy else QUIET_WAIT_MS
            log.debug("fetching %s (%.0f records/s)", "in batches" if busy else "at once", rate)
