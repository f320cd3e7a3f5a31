"""`python -m bench.memtrace DIR tokenrelay-args...`: a tokenrelay process with tracemalloc on,
for the soak's leak hunt. SIGUSR2 writes DIR/<n>.snap (a tracemalloc snapshot) and DIR/<n>.json
(gc counts and object totals); `compare` reads them back: what grew between two of them."""

# A wrapper, not a product feature: the edge and worker run as they always do, in this process
# after tracemalloc has started (one frame per allocation: which line holds the memory). The
# handler runs between two bytecodes of the event loop's thread, so a snapshot pauses serving
# for the time it takes (a fraction of a second at the soak's sizes). SIGUSR1 is mode's (the
# worker's stack dump), hence SIGUSR2.

from __future__ import annotations

import gc
import itertools
import signal
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

SIGNAL = signal.SIGUSR2


def main() -> None:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    out.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(1)
    count = itertools.count()

    def dump(signum: int, frame: Any) -> None:
        n = next(count)
        snap = tracemalloc.take_snapshot()
        snap.dump(str(out / f"{n}.snap"))
        current, peak = tracemalloc.get_traced_memory()
        stats = {
            "traced_bytes": current,
            "traced_peak_bytes": peak,
            "gc_count": gc.get_count(),
            "gc_objects": len(gc.get_objects()),
            "gc_collections": [s["collections"] for s in gc.get_stats()],
        }
        (out / f"{n}.json").write_bytes(orjson.dumps(stats))

    signal.signal(SIGNAL, dump)
    from app.cli import main as cli

    sys.exit(cli(argv))


def compare(directory: Path, old: int, new: int, top: int = 12) -> dict[str, Any]:
    """What grew from snapshot `old` to `new`: traced totals, gc figures, top lines by growth."""
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    a = tracemalloc.Snapshot.load(str(directory / f"{old}.snap")).filter_traces(filters)
    b = tracemalloc.Snapshot.load(str(directory / f"{new}.snap")).filter_traces(filters)
    diff = b.compare_to(a, "lineno")
    return {
        "from": orjson.loads((directory / f"{old}.json").read_bytes()),
        "to": orjson.loads((directory / f"{new}.json").read_bytes()),
        "top": [
            {
                "where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}",
                "size_diff": s.size_diff,
                "size": s.size,
                "count_diff": s.count_diff,
            }
            for s in diff[:top]
        ],
    }


if __name__ == "__main__":
    main()
