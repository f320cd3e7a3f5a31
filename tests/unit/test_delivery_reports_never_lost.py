"""Delivery reports from the publisher's two poll threads all reach the event loop.

They once went into a list that a poll thread swapped for a fresh one when it handed reports
over: a report the other thread was appending to the old list, after the loop had applied it,
was lost, and its writer waited for ever (responses stuck mid-stream in a soak). Here two real
poll loops (`Publisher._poll`) run against fake producers whose `poll` calls the delivery
callback the way librdkafka does; the message's `offset()` yields the GIL, as any call can
when another thread is waiting for it, at the worst moment: between looking up the
publisher's reports and adding to them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from app.producer import Publisher, Report
from app.settings import Settings

PER_THREAD = 20_000
PER_POLL = 10


class Message:
    def offset(self) -> int:
        time.sleep(0)  # let the other threads run here
        return 1


class Loop:
    """call_soon_threadsafe, run by the test's own thread."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.Queue()

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        self.calls.put((fn, args))

    def run_ready(self) -> None:
        while True:
            try:
                fn, args = self.calls.get(timeout=0.01)
            except queue.Empty:
                return
            fn(*args)


class Counting(Publisher):
    def __init__(self) -> None:
        super().__init__(Settings())
        self.applied = 0

    def _delivered(self, reports: list[Report]) -> None:
        self.applied += len(reports)


class Producer:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher, self.left, self.msg = publisher, PER_THREAD, Message()

    def poll(self, timeout: float) -> None:
        if self.left <= 0:
            time.sleep(0.001)
            return
        for _ in range(PER_POLL):
            self.publisher._report("writer", 1, None, self.msg)  # type: ignore[arg-type]
        self.left -= PER_POLL


def test_two_poll_threads_lose_no_report() -> None:
    publisher = Counting()
    loop = Loop()
    publisher._loop = loop  # type: ignore[assignment]
    producers = [Producer(publisher), Producer(publisher)]
    threads = [threading.Thread(target=publisher._poll, args=(p,)) for p in producers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while any(p.left > 0 for p in producers) and time.monotonic() < deadline:
        loop.run_ready()
    publisher._closing = True
    for t in threads:
        t.join()
    loop.run_ready()
    publisher._drain()  # what stop() does once the poll threads are gone
    assert publisher.applied == 2 * PER_THREAD, f"{2 * PER_THREAD - publisher.applied} reports lost"
