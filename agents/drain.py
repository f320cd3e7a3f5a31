"""A worker's drain on SIGTERM (or Ctrl-C): it takes no new request, and the responses it is
generating run on to their end for up to TOKENRELAY_WORKER_DRAIN_S; only those still running
then are stopped (a retriable `worker_stopped` error, agents/generation.py). docs/operations.md

Faust's stop order (faust/app/base.py `on_stop`, then mode's `Service.stop` over the App's
children in reverse start order): the consumer's partitions are paused, the tables stop, the
agents are cancelled, and only then does the consumer commit its acked offsets and leave the
group. Waiting for the responses inside the generation agent would hold the group's partitions,
and every request on them, for the whole drain. So the agent hands its cleanup to
`Drain.later` and returns at once; `DrainingWorker.on_shutdown` awaits it once Faust has left
the group. The requests this worker never took go, uncommitted, to the group's next owner at
once, while the responses running here keep their own producer (and its beats, which the next
owner's watchdog reads) and the control reader, so a cancel still lands.

The races: a request taken here must be committed before the group is left, or the next owner
would run it a second time into the same response. A request is acked when the agent asks for
the next one, which happens only after `Generation.take` has created the response's task, and
the consumer commits acked offsets as it stops, before it leaves. And a request Faust is still
handing to the agent when its stop begins would be skipped but acked: `DrainingWorker` pauses
the requests partitions first (see there).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from faust import Worker

log = logging.getLogger("tokenrelay.worker")
PAUSE_S = 0.5  # requests paused before Faust's stop (DrainingWorker)


class Drain:
    """The stop signal's time, the deadline after it, and the cleanups that wait for it."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.began: float | None = None  # monotonic time of the stop signal
        self._later: list[asyncio.Future[None]] = []

    @property
    def draining(self) -> bool:
        return self.began is not None

    def begin(self) -> None:
        if self.began is None:
            self.began = time.monotonic()

    def remaining_s(self) -> float:
        """How much of the drain is left (0 when the worker is not draining)."""
        if self.began is None:
            return 0.0
        return max(0.0, self.began + self.deadline_s - time.monotonic())

    async def later(self, cleanup: Coroutine[Any, Any, None]) -> None:
        """Run `cleanup` now, or, while draining, after Faust has stopped (see the module)."""
        if not self.draining:
            await cleanup
            return
        self._later.append(asyncio.ensure_future(cleanup))

    async def settle(self, running: Mapping[str, asyncio.Task[None]]) -> None:
        """Wait for the running responses to end, for what is left of the drain."""
        tasks = list(running.values())
        within = self.remaining_s()
        if not tasks or within <= 0:
            return
        log.warning("draining: %d responses running, waiting up to %.0f s", len(tasks), within)
        _, pending = await asyncio.wait(tasks, timeout=within)
        if pending:
            log.warning("drain deadline: stopping %d responses still running", len(pending))
        else:
            log.warning("drained: every running response ended")

    async def wait(self) -> None:
        if self._later:
            await asyncio.gather(*self._later, return_exceptions=True)


class DrainingWorker(Worker):
    """Faust's worker, whose stop signals begin the drain before Faust stops, and whose
    shutdown waits for it after (only the first signal counts, as in Faust).

    Before Faust's stop, the requests topic's partitions are paused for PAUSE_S: Faust's stop
    suspends its flow control, and a record it is still handing to the agent then is skipped
    *and acked* (faust/streams.py), so committed at the stop and never run by anyone. Paused
    first, what was fetched reaches the agent and is taken (and drained) here; what was not
    stays uncommitted in Kafka for the next owner."""

    def __init__(self, app: Any, drain: Drain, requests_topic: str, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.drain = drain
        self.requests_topic = requests_topic

    def _on_sigterm(self) -> None:
        self._pause_then(super()._on_sigterm)

    def _on_sigint(self) -> None:
        self._pause_then(super()._on_sigint)

    def _pause_then(self, stop: Callable[[], None]) -> None:
        if self.drain.draining:
            return stop()  # a second signal: Faust ignores it too
        self.drain.begin()
        try:
            consumer = self.app.consumer
            tps = {tp for tp in consumer.assignment() if tp.topic == self.requests_topic}
            consumer.pause_partitions(tps)
        except Exception:  # not started yet, say: nothing to pause
            log.debug("no requests partitions to pause", exc_info=True)
        asyncio.get_running_loop().call_later(PAUSE_S, stop)

    async def on_shutdown(self) -> None:
        await self.drain.wait()  # Faust has stopped: the consumer has left the group
        await super().on_shutdown()
