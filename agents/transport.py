"""The worker's Faust app class: Faust's own, whose consumer waits at most `FETCH_MAX_WAIT_MS`
in a fetch instead of the 1,500 ms Faust's aiokafka driver hard-codes.

Why: aiokafka has one fetch in flight per broker and leaves out of it every partition whose
records it still holds for Faust. Faust's consumer is also assigned partitions that never get
records: its leader topic and the empty changelog partitions of our tables (Faust pauses those
only in its own bookkeeping, so aiokafka keeps fetching them). When a burst's records sit more
than aiokafka's 100 ms prefetch backoff in its buffer (Faust takes one per event-loop turn, and
the turns are slow while 500 responses start), the next fetch holds only those quiet partitions
and the broker holds it the full wait: every request written meanwhile waited for it. make
bench, 500 responses created at once: first tokens p50 1,518-1,660 ms late, the requests' fetch
~1.6 s after the one before it.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver
from faust.types.transports import TransportT

# An idle worker sends ten fetches a second instead of one every 1.5 s (the views' follower
# waits 50 ms); a quiet-only fetch now costs a burst at most this.
FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes no setting for it; the consumer hands this to its fetcher in start(),
        # which has not run yet (tests/unit/test_worker_fetch_wait.py checks it).
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class App(faust.App):
    """faust.App with the transport above (its producers are Faust's own)."""

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
