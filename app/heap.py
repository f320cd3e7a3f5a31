"""settle_heap(): called once by each long-running process when it has started; and
release_free_memory(), which the worker calls every TRIM_EVERY_S."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import platform

log = logging.getLogger(__name__)

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


# glibc gives freed memory back to the system only from the top of its heap. In a 30-minute soak
# (300 responses at 10 tokens/s) the worker's heap rose from ~33 to ~50 MiB over its first nine
# minutes and stayed there, its Python objects flat: freed Kafka buffers with live blocks above
# them. malloc_trim(0) called from outside (gdb) took the worker from 155 to 139 MiB at once.
# Hand-written: no maintained library wraps this one libc call. Measured on a ~50 MiB heap:
# a few ms, in a thread (the event loop runs on; it waits only for a malloc of its own).
TRIM_EVERY_S = 30.0


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError as exc:
        log.warning("libc not loaded, no heap trims: %r", exc)
        return None


_LIBC = _glibc()


def release_free_memory() -> bool:
    """Give the allocator's free pages back to the system (glibc's malloc_trim(0), which also
    releases whole free pages inside the heap); whether any were released. Not glibc: False."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
