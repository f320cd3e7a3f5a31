"""The persist agent: stores each complete response in the database (app/storage/) once its
terminal index record is in <prefix>.responses: its events (exact bytes), its views' events, its
request, text, models, usage and timings.

It runs in the worker as a Faust task but reads the index with a consumer group of its own,
`<prefix>-persist`, rather than as one more agent of the worker's group: a Faust agent shares
the worker's consumer, so a slow database would fill its stream buffer and stall the watchdog and
views agents behind it, and Faust commits an agent's offset when it takes the next record, not
when the database has committed. Here an offset is committed only after the transaction that
stored its responses, so a crash (SIGKILL) re-delivers at most the batch in flight, and the
store's unique id stores nothing twice. Its lag is the group's lag, visible with Kafka's tools.

Per batch (whatever the index holds, up to `persist_batch` records): of its terminal records,
drop those already stored, read the rest's events one partition range at a time (collect.py),
wait up to `persist_views_wait_s` for their views to end, then one transaction. A response
whose events Kafka no longer holds is stored as found, flagged incomplete; undecodable index
records are skipped (the watchdog dead-letters them), undecodable control records dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from agents import hooks
from agents.collect import Collector
from agents.recording import Read, record, views_done
from app import audit, consumers, events, kafka_security
from app.contract import control, index
from app.contract.index import IndexRecord
from app.deadletter import DeadLetters
from app.errors import DecodeError
from app.settings import Settings
from app.storage.audit import AuditLog
from app.storage.store import Store

log = logging.getLogger(__name__)
RETRY_S = 1.0  # after a failed batch (Kafka or the database down): the same batch again
VIEWS_POLL_S = 0.2


class Persister:
    """Stores the index's complete responses, and keeps the audit log (app/audit.py): a record
    per newly stored response in the transaction that stores it (Store.put), and one per cancel
    this group reads on <prefix>.control, keyed by its offset, so each is appended once."""

    def __init__(
        self, settings: Settings, store: Store, collector: Collector,
        counts: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.collector = collector
        self.audit = AuditLog(store.engine)
        self.dead = DeadLetters(settings)
        self.counts: dict[str, int] = {} if counts is None else counts

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.responses_topic,
            self.settings.control_topic,  # cancels, for the audit log
            **kafka_security.aiokafka_options(self.settings),
            group_id=f"{self.settings.topic_prefix}-persist",
            client_id="tokenrelay-persist",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(self.settings.worker_session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.settings.worker_session_timeout_s * 250),
        )
        await consumers.start(consumer)
        try:
            while True:
                fetched = await consumer.getmany(
                    timeout_ms=1000, max_records=self.settings.persist_batch
                )
                index_values = [
                    r.value for tp, rs in fetched.items() for r in rs
                    if tp.topic == self.settings.responses_topic
                ]  # fmt: skip
                batch = terminal_records(index_values)
                actions = control_entries(fetched, self.settings.control_topic)
                self._dead_letter(fetched)
                while batch or actions:
                    try:
                        await self.persist(batch)
                        # Their own transaction: a re-delivered action's key is in the log.
                        await self.audit.append(actions)
                        break
                    except Exception as exc:
                        # Never crash the worker: the database or Kafka comes back.
                        self._count("retried")
                        log.warning("persist: batch of %d failed, retrying: %r", len(batch), exc)
                        await asyncio.sleep(RETRY_S)
                if fetched:
                    await _commit(consumer)
        finally:
            await consumers.stop(consumer)
            await self.dead.stop()

    def _dead_letter(self, fetched: Mapping[Any, list[Any]]) -> None:
        """Control records that are not one: this group reads each once, so it dead-letters them
        (every worker reads the topic too, and skips them). Undecodable index records are the
        watchdog's to dead-letter."""
        topic = self.settings.control_topic
        for tp, records in fetched.items():
            for r in records if tp.topic == topic else ():
                try:
                    control.decode(r.value)
                except DecodeError as exc:
                    self._count("dead_lettered")
                    log.warning("persist: dead-lettering %s/%d/%d: %s", tp.topic, tp.partition,
                                r.offset, exc)  # fmt: skip
                    self.dead.put(tp.topic, tp.partition, r.offset, r.key, r.value, str(exc))

    async def persist(self, batch: list[IndexRecord]) -> list[str]:
        """Store the responses of `batch` not stored yet; the ids stored now."""
        known = await self.store.stored(r.rid for r in batch)
        if known:
            self._count("already_stored", len(known))
            log.warning(
                "persist: %d of %d already stored (delivered again)", len(known), len(batch)
            )
        todo = [r for r in batch if r.rid not in known]
        if not todo:
            return []
        reads = await self.collector.events(todo)
        await self._views([r for r in todo if r.views], reads)
        now = events.now_ms()
        built = [record(r, reads[r.rid], now) for r in todo]
        stored = await self.store.put(built)
        for b in built:
            if not b.complete:
                self._count("incomplete")
                log.warning("persist: %s stored incomplete: %s", b.id, b.missing)
        self._count("stored", len(stored))
        return stored

    async def _views(self, having: list[IndexRecord], reads: dict[str, Read]) -> None:
        """Read the views until each has ended: the views agent writes them a little after
        the raw events. Past the wait, a view is stored as far as it got (and flagged)."""
        deadline = time.monotonic() + self.settings.persist_views_wait_s
        while having:
            await self.collector.views(having, reads)
            having = [r for r in having if not views_done(r, reads[r.rid].streams)]
            if not having or time.monotonic() > deadline:
                return
            await asyncio.sleep(VIEWS_POLL_S)

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def terminal_records(values: list[bytes | None]) -> list[IndexRecord]:
    """The terminal index records among `values`, one per response (the last), in order;
    undecodable ones are skipped (the watchdog dead-letters them)."""
    out: dict[str, IndexRecord] = {}
    for value in values:
        try:
            rec = index.decode(value)
        except DecodeError:
            continue
        if rec.terminal:
            out.pop(rec.rid, None)
            out[rec.rid] = rec
    return list(out.values())


def control_entries(fetched: Mapping[Any, list[Any]], topic: str) -> list[audit.Entry]:
    """The audit entries of the control records in `fetched` (cancels), keyed by their place in
    the log; anything else on the topic is skipped."""
    found = (
        audit.of_control(r.value, tp.topic, tp.partition, r.offset, r.timestamp)
        for tp, rs in fetched.items() if tp.topic == topic for r in rs
    )  # fmt: skip
    return [e for e in found if e is not None]


async def _commit(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.commit()
    except (CommitFailedError, KafkaError) as exc:
        # A rebalance took the partitions: their new owner reads the batch again and finds it
        # stored.
        log.info("persist: offsets not committed (%r)", exc)


def register(app: faust.App, settings: Settings) -> Callable[[], dict[str, int]]:
    """Run the persist agent in `app`; what it has done so far, for the metrics."""
    counts: dict[str, int] = {}

    @hooks.task(app)
    async def persist() -> None:
        store = Store.connect(settings.database_url)
        collector = Collector(settings)
        try:
            while True:
                try:
                    await collector.start()
                    await Persister(settings, store, collector, counts).run()
                except (KafkaError, OSError) as exc:
                    log.warning("persist: Kafka failed, starting again: %r", exc)
                    await collector.close()
                    await asyncio.sleep(RETRY_S)
        finally:
            await collector.close()
            await store.close()

    return lambda: counts
