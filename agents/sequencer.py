"""The sequencing agent: <prefix>.tokens in, <prefix>.events (seq 1, 2, 3 ...) and
<prefix>.responses (status per response) out; undecodable inputs go to <prefix>.deadletter.

Guarantee without Kafka transactions (faust's exactly-once is unreliable, see ARCHITECTURE.md):
the events log is the truth and the `sequencer-state` table only a checkpoint of it. A
checkpoint is written after its event is acknowledged, so it never runs ahead of the log; a
worker taking over a partition folds the log's recent tail into the checkpoint before it
sequences anything. Replayed inputs are then recognised by their per-source `n` and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents import recovery
from agents.transforms import sequencing
from agents.transforms.sequencing import SeqState
from app import events
from app.errors import DecodeError
from app.events import Event
from app.settings import Settings

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 32
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
RAW_CODEC: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}


class Sequencer:
    """Sequences the partitions this worker owns; one instance per worker."""

    def __init__(self, settings: Settings, table: Any, out: Any, index: Any, dead: Any) -> None:
        self.settings = settings
        self.table, self.out, self.index, self.dead = table, out, index, dead
        self.live: dict[str, SeqState] = {}  # in-progress responses of owned partitions
        self.seen: dict[str, tuple[float, int]] = {}  # rid -> (last write, epoch s; partition)
        self.stale: set[int] = set()  # partitions (re)assigned but not yet recovered
        self.next_offset: dict[int, int] = {}  # the input offset expected next, per partition
        self._probe: AIOKafkaConsumer | None = None  # reads input end offsets for the reaper
        self.counts: dict[str, int] = {}
        # The agent and the reaper both sequence; their sends must reach Kafka in seq order.
        self.lock = asyncio.Lock()

    def state(self, rid: str) -> SeqState:
        found = self.live.get(rid)
        if found is None:
            raw = self.table.get(rid.encode())
            found = SeqState.loads(raw) if raw is not None else SeqState()
        return found

    def assigned(self, partitions: set[int]) -> None:
        self.stale |= partitions

    def revoked(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.next_offset.pop(partition, None)
        for rid, (_, partition) in list(self.seen.items()):
            if partition in partitions:
                self.live.pop(rid, None)
                del self.seen[rid]

    async def recover(self, partition: int, offset: int) -> None:
        """Rebuild the partition's state from the log, then sequence again every input of the
        recovery window before `offset`: the replay's duplicates are dropped by `n`, and inputs
        the consumer's committed position stepped over (it can run ahead of the log after a
        crash or rebalance) are sequenced now instead of lost."""
        newest = 0.0
        for topic in (self.settings.events_topic, self.settings.responses_topic):
            async for record in recovery.read_tail(self.settings, topic, partition):
                newest = max(newest, record.timestamp)
                try:
                    event = events.decode(record.value)
                except DecodeError:
                    continue
                state = sequencing.observe(self.state(event.rid), event)
                if state.terminal:
                    self.live.pop(event.rid, None)
                    self.seen.pop(event.rid, None)
                else:
                    self.live[event.rid] = state
                    self.seen[event.rid] = (event.ts / 1000.0, partition)
        if newest:
            since = int(newest) - self.settings.sequencer_recovery_ms
            await self._replay(partition, offset, since_ms=since)
        self.stale.discard(partition)
        self.next_offset[partition] = offset

    async def _replay(
        self, partition: int, until: int, since_ms: int | None = None, start: int | None = None
    ) -> None:
        topic = self.settings.tokens_topic
        async for record in recovery.read_inputs(
            self.settings, topic, partition, until, since_ms=since_ms, start=start
        ):
            try:
                token = events.decode(record.value)
            except DecodeError:
                continue  # dead-lettered when the live path met it
            await self.sequence(token, partition)

    async def on_message(self, message: Any) -> None:
        partition, offset = message.partition, message.offset
        if partition in self.stale:
            async with self.lock:
                await self.recover(partition, offset)
        expected = self.next_offset.get(partition, offset)
        if offset > expected:
            # The consumer skipped input offsets (seen with faust after a rebalance): read them.
            self._count("input_gap")
            log.warning("input gap on %s[%d]: %d..%d", message.topic, partition, expected, offset)
            async with self.lock:
                await self._replay(partition, offset, start=expected)
        self.next_offset[partition] = max(expected, offset + 1)
        try:
            token = events.decode(message.value)
        except DecodeError as exc:
            self._count("undecodable")
            log.warning(
                "dead-lettering %s[%d]@%d: %s",
                message.topic,
                message.partition,
                message.offset,
                exc,
            )
            origin = f"{message.topic}/{message.partition}/{message.offset}"
            await self.dead.send(
                key=message.key,
                value=message.value,
                headers=[("error", str(exc).encode()), ("origin", origin.encode())],
            )
            return
        async with self.lock:
            await self.sequence(token, message.partition)

    async def sequence(self, token: Event, partition: int) -> None:
        outcome = sequencing.apply(self.state(token.rid), token)
        if outcome.dropped:
            self._count(outcome.dropped)
            return
        rid, key, state = token.rid, token.rid.encode(), outcome.state
        if state.terminal:
            self.live.pop(rid, None)
            self.seen.pop(rid, None)
        else:
            self.live[rid] = state
            self.seen[rid] = (time.time(), partition)
        if outcome.event is not None:
            # Same partition number as the input: tokens and events are co-partitioned.
            sent = await self.out.send(
                key=key, value=events.encode(outcome.event), partition=partition
            )
            sent.add_done_callback(lambda f: self._on_sent(f, rid, state, partition))
        else:
            self.checkpoint(rid, state, partition)
        if outcome.index is not None:
            # After the event: an edge that learns a response ended finds its last event stored.
            await self.index.send(key=key, value=events.encode(outcome.index), partition=partition)

    async def reap_idle(self) -> None:
        """End in-progress responses whose producer has written nothing for too long (a dead
        model call or worker), so no reader waits forever."""
        limit = self.settings.response_idle_timeout_s
        cutoff = time.time() - limit
        if not any(last < cutoff for last, _ in self.seen.values()):
            return
        behind = await self._behind()
        for rid, (last, partition) in list(self.seen.items()):
            if last >= cutoff or partition in behind:
                continue
            async with self.lock:
                current = self.seen.get(rid)
                if current is None or current[0] >= cutoff or rid not in self.live:
                    continue  # a write arrived meanwhile, or it finished
                self._count("reaped")
                log.warning("ending %s: no producer write for %.0f s", rid, time.time() - last)
                lost = Event(
                    rid=rid,
                    type=events.ERROR,
                    ts=events.now_ms(),
                    retriable=True,
                    code="producer_lost",
                    message=f"the model produced nothing for {limit:g} s",
                )
                await self.sequence(lost, partition)

    async def _behind(self) -> set[int]:
        """Owned partitions with input not sequenced yet (a rebalance or a backlog): silence
        there says nothing about the producers, so the reaper leaves them alone."""
        owned = self.stale | set(self.next_offset)
        if self._probe is None:
            self._probe = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka, client_id="tokenrelay-sequencer-reaper"
            )
            await self._probe.start()
        tps = {p: TopicPartition(self.settings.tokens_topic, p) for p in owned}
        ends = await self._probe.end_offsets(list(tps.values())) if tps else {}
        return {
            p for p, tp in tps.items() if p in self.stale or ends[tp] > self.next_offset.get(p, 0)
        }

    def checkpoint(self, rid: str, state: SeqState, partition: int) -> None:
        """Record a state whose events Kafka has acknowledged.

        Runs in a send callback, outside the stream's iteration, so it names the changelog
        partition itself instead of `table[key] = value` (which takes it from the current event).
        """
        key, raw = rid.encode(), state.dumps()
        self.table.data[key] = raw
        self.table.send_changelog(partition, key, raw)

    def _on_sent(self, future: asyncio.Future[Any], rid: str, state: SeqState, part: int) -> None:
        if not future.cancelled() and future.exception() is None:
            # Recovery re-reads the log's recent tail, and the reaper ends any response idle for
            # less than that tail's length, so a checkpoint every few events is enough; a
            # finished response's is what answers late duplicates after the tail.
            if state.terminal or state.seq % CHECKPOINT_EVERY == 0:
                self.checkpoint(rid, state, part)
            return
        # A lost event would leave a hole that later seqs step over. Stop at once; the worker
        # that takes over re-reads the log and sequences the unacknowledged inputs again.
        log.critical(
            "event for %s seq %d was not stored (%r); exiting",
            rid,
            state.seq,
            None if future.cancelled() else future.exception(),
        )
        os._exit(70)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def register(app: faust.App, settings: Settings) -> Sequencer:
    parts = settings.partitions
    tokens = app.topic(settings.tokens_topic, partitions=parts, **RAW, **RAW_CODEC)
    seq = Sequencer(
        settings,
        table=app.Table("sequencer-state", partitions=parts, **RAW),
        out=app.topic(settings.events_topic, partitions=parts, **RAW, **RAW_CODEC),
        index=app.topic(settings.responses_topic, partitions=parts, **RAW, **RAW_CODEC),
        dead=app.topic(settings.deadletter_topic, partitions=1, **RAW, **RAW_CODEC),
    )

    def ours(tps: set[Any]) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == settings.tokens_topic}

    @app.on_partitions_assigned.connect  # type: ignore[misc]
    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        seq.assigned(ours(assigned))

    @app.on_partitions_revoked.connect  # type: ignore[misc]
    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        seq.revoked(ours(revoked))

    @app.agent(tokens, name="sequencer")
    async def sequence(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await seq.on_message(event.message)

    @app.timer(interval=1.0, name="sequencer-reaper")
    async def reap() -> None:
        await seq.reap_idle()

    return seq
