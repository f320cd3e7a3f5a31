"""Finding a response this edge does not hold: one it never saw (it started later, or the
response was created through another edge) or one that left its memory.

In order: the live set, the directory of finished responses, then a search of the response's
partition of <prefix>.responses for its records (up to its terminal one, which carries its
first offset). A generated id carries its creation time, so the search starts at a time seek
(created - skew) and reads a bounded window; an id without a time (chosen by an SDK user) is
searched from the partition's beginning. The topic is compacted, so that costs about one record
per retained response of the partition: tolerable for the rare resume of such an id on a fresh
edge, and bounded by the shared consumer pool. Not found: wait up to the caller's
budget for a just-created response to arrive live. Before that wait, storage (archive.py): a
response whose index records Kafka no longer holds is served from there.

A reader racing its POST (the common case: a client creates, then reads at once) skips the
search: a response created after this edge began following its topics arrives live, so the
reader waits for that first. Searched, it was adopted from the index, not followed from its
start, and read its first events back from Kafka: a lookup and a catch-up read per response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from app import consumers, ids
from app.contract import index
from app.edge.archive import Archive
from app.edge.fanout import Fanout
from app.edge.metrics import Metrics
from app.edge.pool import ConsumerPool, read_from
from app.edge.tracked import Tracked
from app.errors import DecodeError, Unavailable
from app.settings import Settings

CLOCK_SKEW_MS = 5_000
SEARCH_TIMEOUT_S = 10.0


class Locator:
    def __init__(
        self, settings: Settings, metrics: Metrics, fanout: Fanout, pool: ConsumerPool,
        archive: Archive | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.archive = archive
        self.metrics = metrics
        self.fanout = fanout
        self.pool = pool
        # Compaction keeps a response's last record, which is written at its end: the window
        # after `created` must reach past the longest a response can run.
        self.window_ms = 1000 * (
            settings.generation_deadline_s + 2 * settings.response_idle_timeout_s + 60
        )
        self._searches: dict[str, asyncio.Task[index.IndexRecord | None]] = {}

    async def find(self, rid: str, wait_s: float) -> Tracked | None:
        """The response, waiting up to `wait_s` for one not stored yet (it may be just created)."""
        fanout = self.fanout
        tracked = fanout.responses.get(rid)
        if tracked is not None:
            if tracked.first is None and not tracked.created and not tracked.from_start:
                # Seen mid-stream only, under an id without a time: the index says where it starts.
                record = await self._search(rid)
                if record is not None:
                    fanout.adopt(record)
            return tracked
        entry = fanout.directory.get(rid)
        if entry is not None:
            return entry.tracked()
        started = time.monotonic()
        arrival = fanout.arrival(rid)
        try:
            created = ids.created_ms(rid)
            fresh = created is not None and time.time() * 1000 - created < (
                wait_s * 1000 + CLOCK_SKEW_MS
            )
            if fresh and _arrives_live(fanout, created):
                await asyncio.wait([arrival], timeout=wait_s)
                tracked = fanout.responses.get(rid)
                if tracked is not None:
                    return tracked
            record = await self._search(rid)  # not arrived: a writer's clock far ahead, say
            if record is not None:
                return fanout.adopt(record)
            # Storage next, unless the id was made so recently that it is surely on its way
            # to Kafka (a reader racing its POST): that wait costs no database query.
            stored = None if fresh else await self._stored(rid)
            if stored is not None:
                return stored
            remaining = wait_s - (time.monotonic() - started)
            if rid not in fanout.responses and remaining > 0:
                await asyncio.wait([arrival], timeout=remaining)
            if rid not in fanout.responses and fresh:
                return await self._stored(rid)
            return fanout.responses.get(rid)
        finally:
            fanout.forget_arrival(rid, arrival)

    async def _stored(self, rid: str) -> Tracked | None:
        return await self.archive.find(rid) if self.archive is not None else None

    async def views(self, tracked: Tracked) -> tuple[str, ...]:
        """The views a response asked for. Known from any index record of it this edge read;
        a response seen only through its events (this edge started mid-response, before its
        next beat) is looked up once, so a moderated one is never served raw by mistake."""
        if tracked.views is None:
            record = await self._search(tracked.rid)
            if record is not None:
                self.fanout.adopt(record)
            tracked.views = record.views if record is not None else ()
        return tracked.views

    async def _search(self, rid: str) -> index.IndexRecord | None:
        # Fifty readers of one unknown id share one search.
        task = self._searches.get(rid)
        if task is None:
            task = self._searches[rid] = asyncio.create_task(self._scan(rid))
            task.add_done_callback(lambda _: self._searches.pop(rid, None))
        try:
            return await asyncio.shield(task)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise Unavailable(f"Kafka failed during a lookup: {exc!r}") from None

    async def _scan(self, rid: str) -> index.IndexRecord | None:
        self.metrics.lookups.inc()
        topic = self.settings.responses_topic
        tp = TopicPartition(topic, ids.partition_for(rid, self.fanout.partitions[topic]))
        created = ids.created_ms(rid)
        key = rid.encode()
        async with self.pool.consumer() as consumer, asyncio.timeout(SEARCH_TIMEOUT_S):
            end = (await consumer.end_offsets([tp]))[tp]
            if created is None:
                start, stop_ts = (await consumer.beginning_offsets([tp]))[tp], math.inf
            else:
                since = max(0, int(created) - CLOCK_SKEW_MS)
                found = (await consumer.offsets_for_times({tp: since}))[tp]
                if found is None:
                    return None  # nothing written since: not stored (yet)
                start, stop_ts = int(found.offset), created + self.window_ms
            if start >= end:
                return None  # never assign without fetching (pool.py, read_from)
            read_from(consumer, tp, start)
            latest = None
            async for record in consumers.keyed(consumer, tp, end, key, until_ms=stop_ts):
                latest = _merge(latest, record.value, rid)
                if latest is not None and latest.terminal:
                    return latest  # nothing after its end adds anything
        return latest


def _arrives_live(fanout: Fanout, created: float | None) -> bool:
    """Created after this edge began following its topics (give or take clock skew): every
    record of it comes through the live consumer."""
    since = fanout.following_since_ms
    return since is not None and created is not None and created > since + CLOCK_SKEW_MS


def _merge(
    latest: index.IndexRecord | None, value: bytes | None, rid: str
) -> index.IndexRecord | None:
    """The later record, keeping what only the earlier one said (the `open` record has no first
    offset yet; a later one does)."""
    try:
        record = index.decode(value)
    except DecodeError:
        return latest
    if record.rid != rid:
        return latest
    if latest is None:
        return record
    return dataclasses.replace(
        record,
        created=latest.created or record.created,
        first=record.first if record.first is not None else latest.first,
        cached_from=record.cached_from or latest.cached_from,
    )
