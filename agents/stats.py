"""The stats agent: per model and minute, how responses went (app/contract/stats.py), from the
terminal records of the responses index (a few records per response, never one per token), kept in a
Faust table and published to the compacted <prefix>.stats for the edges to serve.

Table keys are (partition of <prefix>.responses, model, minute): a Faust table write lands in the
changelog partition of the record being processed, so a key written from one partition only is
recovered whole by whichever worker owns that partition next. The edge merges the partitions'
partials. Each value remembers the last offset it counted, so records read again after a crash
(processed, not yet committed) are not counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from agents import hooks
from app.contract import index, stats, tables
from app.contract.index import IndexRecord
from app.contract.stats import SEP, Partial
from app.errors import DecodeError
from app.settings import Settings
from app.summary import Summary

log = logging.getLogger(__name__)
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
RAW_CODEC: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
PUBLISH_S = 1.0  # each changed (model, minute) partial goes out at most this often
SWEEP_S = 60.0  # how often a partition's minutes past the window are dropped


class Stats:
    def __init__(
        self, settings: Settings, table: Any, out: Any, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.table, self.out = table, out
        self.clock = clock
        self.dirty: dict[bytes, None] = {}  # table keys changed since the last publish
        self.swept: dict[int, float] = {}  # partition -> when its old minutes were last dropped

    async def on_message(self, message: Any) -> None:
        """One index record, inside the agent's stream (table writes need its partition)."""
        try:
            record = index.decode(message.value)
        except DecodeError:
            return  # the watchdog dead-letters it
        if record.terminal:
            self.count(record, message.partition, message.offset)
        self.sweep(message.partition)

    def count(self, record: IndexRecord, partition: int, offset: int) -> None:
        minute = stats.minute_of(record.ts)
        if minute < self.oldest():
            return  # a first start reading days of the index: nobody would see these minutes
        summary = Summary.parse(record.summary)
        for model in summary.models or (stats.UNKNOWN_MODEL,):
            key = _key(partition, model, minute)
            counted = tables.decode_counted(self.table.get(key))
            applied, aggregate = counted.offset, counted.aggregate
            if offset <= applied:
                continue  # counted before a crash; read again since
            aggregate.add_response(record, summary, model)
            self.table[key] = tables.Counted(offset, aggregate).encode()
            self.dirty[key] = None

    def sweep(self, partition: int) -> None:
        now = time.monotonic()
        if now - self.swept.get(partition, 0.0) < SWEEP_S:
            return
        self.swept[partition] = now
        oldest = self.oldest()
        prefix = f"{partition}{SEP}".encode()
        for key in [k for k in self.table.keys() if k.startswith(prefix)]:
            if int(key.rsplit(SEP.encode(), 1)[1]) < oldest:
                del self.table[key]
                self.dirty.pop(key, None)

    def oldest(self) -> int:
        """The first minute of the window."""
        return stats.minute_of(self.clock() * 1000) - self.settings.stats_window_minutes

    async def publish(self) -> None:
        dirty, self.dirty = self.dirty, {}
        try:
            for key in dirty:
                raw = self.table.get(key)
                if raw is None:
                    continue  # swept, or its partition moved to another worker
                partition, model, minute = key.decode().split(SEP)
                aggregate = tables.decode_counted(raw).aggregate
                partial = Partial(model, int(minute), int(partition), aggregate)
                await self.out.send(key=partial.key.encode(), value=partial.encode())
        except BaseException:
            self.dirty.update(dirty)  # again next time (a copy sent twice is harmless)
            raise


def _key(partition: int, model: str, minute: int) -> bytes:
    return f"{partition}{SEP}{model}{SEP}{minute}".encode()


def register(app: faust.App, settings: Settings) -> Stats:
    parts = settings.partitions
    responses = app.topic(settings.responses_topic, partitions=parts, **RAW, **RAW_CODEC)
    agent_stats = Stats(
        settings,
        table=app.Table("stats", partitions=parts, **RAW),
        out=app.topic(settings.stats_topic, partitions=1, **RAW, **RAW_CODEC),
    )

    @app.agent(responses, name="stats")
    async def watch(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                await agent_stats.on_message(event.message)
            except Exception:  # stats must never stop the worker's other agents
                log.exception("stats: a record could not be counted")

    @hooks.timer(app, interval=PUBLISH_S, name="stats-publish")
    async def publish() -> None:
        try:
            await agent_stats.publish()
        except Exception:  # a timer's exception would stop the Faust app: next tick retries
            log.exception("stats: publishing failed")

    return agent_stats
