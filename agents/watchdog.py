"""The watchdog agent: ends a response whose writer went silent or died, so no reader waits
forever. It reads the responses index (<prefix>.responses: open, beats, terminal states; a few
records per response, never one per token) and keeps the in-progress ones in a Faust table,
so a worker that takes over a partition knows them at once, with or without new traffic.

A response with no writer activity for `response_idle_timeout_s` is ended with `error`
(retriable, `producer_lost`) at the seq after the last one in the log. The decision rests on
the events log itself (a side read), not on the table alone: a table that lags after a
takeover, or a late beat, can cost a side read but never end a live response. A writer that comes
back late loses by the readers' rule (app/ordering.py); if the writer's event won the race
instead, the watchdog's lost, and it looks again later.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from aiokafka.errors import KafkaError

from agents import hooks
from agents.sideread import SideReader
from app import events
from app.contract import index
from app.contract.deadletter import DeadLetter
from app.contract.index import IndexRecord
from app.errors import DecodeError, ProducerLost
from app.events import Event
from app.producer import Publisher
from app.settings import Settings

log = logging.getLogger(__name__)
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
RAW_CODEC: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}


def merge(known: IndexRecord | None, record: IndexRecord) -> IndexRecord:
    """The newest knowledge of an in-progress response from two index records (the edge's
    `open` and the writer's beats may come from different processes)."""
    if known is None:
        return record
    return IndexRecord(
        rid=record.rid,
        state=record.state,
        partition=record.partition,
        created=min(known.created, record.created),
        ts=max(known.ts, record.ts),
        seq=max(known.seq, record.seq),
        first=known.first if known.first is not None else record.first,
        last=record.last if record.last is not None else known.last,
    )


class Watchdog:
    def __init__(self, settings: Settings, table: Any, dead: Any, recovered: Any) -> None:
        self.settings = settings
        self.table, self.dead, self.recovered = table, dead, recovered
        self.owned: set[int] = set()
        self.seen_alive: dict[str, float] = {}  # rid -> newest event ts a side read found
        self.counts: dict[str, int] = {}
        self._reader = SideReader(settings, "tokenrelay-watchdog")
        self._publisher: Publisher | None = None

    async def on_message(self, message: Any) -> None:
        """One index record, inside the agent's stream (so table writes find their partition)."""
        try:
            record = index.decode(message.value)
        except DecodeError as exc:
            self._count("undecodable")
            letter = DeadLetter(message.topic, message.partition, message.offset, str(exc))
            log.warning("dead-lettering %s: %s", letter.origin, exc)
            await self.dead.send(key=message.key, value=message.value, headers=letter.headers())
            return
        key = record.rid.encode()
        if record.terminal:
            self.seen_alive.pop(record.rid, None)
            if key in self.table:
                del self.table[key]
            return
        raw = self.table.get(key)
        known = index.decode(raw) if raw else None
        merged = merge(known, record)
        if known is not None and not self._news(known, merged):
            return  # a table write is a changelog record: not for what changes nothing here
        self.table[key] = merged.encode()

    def _news(self, known: IndexRecord, merged: IndexRecord) -> bool:
        """Whether `merged` tells the reaper more than `known`: a new seq or offsets, or a sign
        of life at least a beat interval newer. A worker's `beat` when it takes a request comes
        milliseconds after the edge's `open`; written, it doubled the table's changelog records
        in a burst of new responses and held the worker up (make bench, 100 responses started
        at once: first tokens p50 160 ms late with the write, 67 ms without). The reaper's
        view of a writer is then at most a beat interval old, well inside the idle timeout
        (settings require it to be over two beats)."""
        return (
            (merged.seq, merged.first, merged.last) != (known.seq, known.first, known.last)
            or merged.ts - known.ts >= self.settings.writer_beat_s * 1000
        )

    async def reap(self) -> None:
        """End the in-progress responses of owned partitions whose writer is silent."""
        if not self.recovered():
            return
        idle_ms = self.settings.response_idle_timeout_s * 1000
        cutoff = time.time() * 1000 - idle_ms
        silent = []
        for _, raw in list(self.table.items()):
            record = index.decode(raw)
            alive = max(record.ts, self.seen_alive.get(record.rid, 0.0))
            if record.partition in self.owned and alive < cutoff:
                silent.append(record)
        for record in silent:
            try:
                await self._end(record, cutoff)
            except Exception as exc:
                # Kafka unreachable (a broker restarting: the side read's consumer cannot even
                # bootstrap), or any other fault: out of this timer, Faust would end the whole
                # worker. The response stays in the table, silent, and the next tick looks again.
                self._count("reap_failed")
                level = logging.WARNING if isinstance(exc, KafkaError) else logging.ERROR
                log.log(level, "watchdog: could not end %s yet: %r", record.rid, exc)
                return

    async def _end(self, record: IndexRecord, cutoff: float) -> None:
        rid, part = record.rid, record.partition
        start = record.last if record.last is not None else record.first
        since = None if start is not None else record.created
        seen = await self._reader.fold(rid, part, start=start, since_ms=since)
        last = max(record.seq, seen.order.last)
        if seen.final_type is not None:
            # The writer ended it but died before its index record: write that record.
            await self._index(record, seen.final_type, last)
            return
        if seen.last_ts >= cutoff:
            self.seen_alive[rid] = seen.last_ts  # writing, its beat is just late
            return
        silent_s = (time.time() * 1000 - max(record.ts, seen.last_ts)) / 1000
        lost = Event(
            rid=rid,
            type=events.ERROR,
            seq=last + 1,
            ts=events.now_ms(),
            retriable=ProducerLost.retriable,
            code=ProducerLost.code,
            message=f"the writer wrote nothing for {silent_s:.0f} s",
        )
        publisher = await self._publisher_started()
        offset = await publisher.send(
            self.settings.events_topic, rid, events.encode(lost), partition=part
        )
        check = await self._reader.fold(rid, part, start=start, since_ms=since, until=offset + 1)
        if check.offsets.get(last + 1) != offset:
            log.info("%s: the writer's seq %d came first; looking again later", rid, last + 1)
            return
        self._count("ended")
        log.warning("ended %s at seq %d: no writer activity for %.0f s", rid, last + 1, silent_s)
        await self._index(record, events.ERROR, last + 1, {"code": ProducerLost.code})

    async def _index(
        self, record: IndexRecord, state: str, seq: int, summary: dict[str, Any] | None = None
    ) -> None:
        """`summary`: what it knows of the response (app/summary.py), for the stats agent."""
        publisher = await self._publisher_started()
        done = IndexRecord(
            rid=record.rid,
            state=state,
            partition=record.partition,
            created=record.created,
            ts=events.now_ms(),
            seq=seq,
            first=record.first,
            last=record.last,
            summary=summary,
        )
        topic = self.settings.responses_topic
        await publisher.send(topic, record.rid, done.encode(), partition=record.partition)
        # The agent deletes the table entry when it reads this record back.

    async def _publisher_started(self) -> Publisher:
        if self._publisher is None:
            self._publisher = Publisher(self.settings, client_id="tokenrelay-watchdog")
            await self._publisher.start()
        return self._publisher

    async def close(self) -> None:
        await self._reader.close()
        if self._publisher is not None:
            await self._publisher.stop()

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def register(app: faust.App, settings: Settings) -> Watchdog:
    parts = settings.partitions
    responses = app.topic(settings.responses_topic, partitions=parts, **RAW, **RAW_CODEC)
    dog = Watchdog(
        settings,
        table=app.Table("watchdog", partitions=parts, **RAW),
        dead=app.topic(settings.deadletter_topic, partitions=1, **RAW, **RAW_CODEC),
        recovered=lambda: hooks.recovered(app),
    )

    def ours(tps: set[Any]) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == settings.responses_topic}

    @hooks.on_assigned(app)
    async def on_assigned(assigned: set[Any]) -> None:
        dog.owned = ours(assigned)
        dog.seen_alive.clear()  # a hint only (it saves side reads): never kept across owners

    @app.agent(responses, name="watchdog")
    async def watch(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                await dog.on_message(event.message)
            except Exception:  # one record must not stop the agent (and the reaper with it)
                m = event.message
                log.exception("watchdog: record %s/%d/%d failed", m.topic, m.partition, m.offset)

    @hooks.timer(app, interval=1.0, name="watchdog-reaper")
    async def reap() -> None:
        await dog.reap()

    return dog
