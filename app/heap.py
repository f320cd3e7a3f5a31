"""settle_heap(): called once by each long-running process when it has started."""

from __future__ import annotations

import gc

# The youngest generation is collected after this many net allocations (CPython's default is
# 700). A token fanned out to 1,000 readers allocates ~5,000 short-lived objects (a future, an
# async generator step, a list per reader) that are all alive until the wave is through: at 700
# they were collected mid-wave, survived, were promoted, and made the oldest generation due for
# a full collection every ~5 s; over the ~150,000 objects of 1,000 open connections each took
# 75-100 ms, which was the edge's p99 at 1,000 readers (89-96 ms). At 10,000 a wave dies
# young: no full collection in a 12 s run, p99 36 ms (bench fan-out scenario, same run).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Put what is alive at start (modules, classes, functions, clients: ~10^5 objects) out of
    the garbage collector's reach, so each full collection walks only what the process took on
    since. Measured under load: the worker's full collections took ~60 ms over its 111,000
    tracked objects, most of them from imports."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
