"""The edge's view of the per-model stats: `StatsWindow` holds the latest partial of each
(model, minute, partition) of the last `stats_window_minutes` and merges them for GET /v1/stats,
and running totals since this edge started for /metrics; `StatsReader` fills it from
<prefix>.stats with a consumer of its own (never the live path's), dead-lettering bad records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import consumers, kafka_security
from app.contract import stats
from app.contract.stats import Aggregate, Partial
from app.deadletter import DeadLetters
from app.settings import Settings

log = logging.getLogger(__name__)
MAX_PARTIALS = 50_000  # a bound whatever model names clients invent
MAX_MODELS = 500  # label values of /metrics; later ones are counted as OTHER
OTHER = "other"
RETRY_S = 1.0
DEFECTS = (ValueError, TypeError, OverflowError)  # what stats.decode raises for a bad record


class StatsWindow:
    def __init__(self, minutes: int, clock: Callable[[], float] = time.time) -> None:
        self.minutes = minutes
        self.clock = clock
        self.partials: dict[str, Partial] = {}
        self.totals: dict[str, Aggregate] = {}  # model -> since this edge started
        self.skipped = 0  # records that were not stats records

    def now_minute(self) -> int:
        return stats.minute_of(self.clock() * 1000)

    def apply(self, value: bytes | None) -> bool:
        """One record of <prefix>.stats; a bad one is counted and skipped, never raised."""
        try:
            partial = stats.decode(value)
        except DEFECTS:
            self.skipped += 1
            return False
        return self.add(partial)

    def add(self, partial: Partial) -> bool:
        """A decoded partial; False when its minute is past the window."""
        if partial.minute <= self.now_minute() - self.minutes:
            return False
        known = self.partials.get(partial.key)
        grown = partial.aggregate.minus(known.aggregate) if known else partial.aggregate
        model = partial.model
        if model not in self.totals and len(self.totals) >= MAX_MODELS:
            model = OTHER
        self.totals.setdefault(model, Aggregate()).merge(grown)
        self.partials[partial.key] = partial
        if len(self.partials) > MAX_PARTIALS:
            self.trim()
        return True

    def trim(self) -> None:
        """Drop minutes past the window (and the oldest ones, should the bound be reached)."""
        oldest = self.now_minute() - self.minutes
        keep = sorted(
            (p for p in self.partials.values() if p.minute > oldest), key=lambda p: p.minute
        )[-MAX_PARTIALS:]
        self.partials = {p.key: p for p in keep}

    def report(self, minutes: int) -> dict[str, Any]:
        """GET /v1/stats: per model, per minute (oldest first) and in all; then every model."""
        self.trim()
        first = self.now_minute() - minutes + 1
        per: dict[str, dict[int, Aggregate]] = {}
        for p in self.partials.values():
            if p.minute >= first:
                per.setdefault(p.model, {}).setdefault(p.minute, Aggregate()).merge(p.aggregate)
        everything = Aggregate()
        models: dict[str, Any] = {}
        for model in sorted(per):
            total = Aggregate()
            rows = []
            for minute in sorted(per[model]):
                total.merge(per[model][minute])
                rows.append({"minute": _iso(minute), **per[model][minute].report()})
            everything.merge(total)
            models[model] = {"total": total.report(), "minutes": rows}
        return {
            "window_minutes": minutes,
            "from": _iso(first),
            "models": models,
            "total": everything.report(),
        }


class StatsReader:
    """Reads <prefix>.stats from `stats_window_minutes` ago, then follows it; restarts itself
    after a fault (the stats are a convenience: nothing waits on them)."""

    def __init__(
        self, settings: Settings, window: StatsWindow, partitions: int,
        dead: DeadLetters | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.window = window
        self.partitions = partitions  # of <prefix>.stats, as ensure_topics found them
        self.dead = dead  # every edge reads the whole topic: each dead-letters a bad record
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tokenrelay-edge-stats")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stats reader failed; restarting in %.0f s", RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            **kafka_security.aiokafka_options(self.settings),
            enable_auto_commit=False,
            client_id="tokenrelay-edge-stats",
        )
        await consumers.start(consumer)
        try:
            topic = self.settings.stats_topic
            tps = [TopicPartition(topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            since = int((self.window.clock() - (self.window.minutes + 1) * 60) * 1000)
            found = await consumer.offsets_for_times({tp: since for tp in tps})
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, found[tp].offset if found[tp] else ends[tp])
            last_trim = time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(tp, record)
                if time.monotonic() - last_trim > 60:
                    self.window.trim()
                    last_trim = time.monotonic()
        finally:
            await consumers.stop(consumer)


    def _apply(self, tp: TopicPartition, record: Any) -> None:
        try:
            partial = stats.decode(record.value)
        except DEFECTS as exc:
            self.window.skipped += 1
            log.warning("undecodable stats record %s/%d/%d: %s", tp.topic, tp.partition,
                        record.offset, exc)  # fmt: skip
            if self.dead is not None:
                self.dead.put(tp.topic, tp.partition, record.offset, record.key, record.value,
                              str(exc))  # fmt: skip
            return
        self.window.add(partial)


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")
