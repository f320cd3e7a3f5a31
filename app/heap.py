"""settle_heap(): called once by each long-running process when it has started."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Put what is alive at start (modules, classes, functions, clients: ~10^5 objects) out of
    the garbage collector's reach, so each full collection walks only what the process took on
    since. Measured under load: the worker's full collections took ~60 ms over its 111,000
    tracked objects, most of them from imports."""
    gc.collect()
    gc.freeze()
