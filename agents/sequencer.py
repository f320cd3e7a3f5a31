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
from typing import Any

import faust

from agents import recovery
from agents.transforms import sequencing
from agents.transforms.sequencing import SeqState
from app import events
from app.errors import DecodeError
from app.settings import Settings

log = logging.getLogger(__name__)


class Sequencer:
    """Holds the live state of the partitions this worker owns."""

    def __init__(self, settings: Settings, table: Any) -> None:
        self.settings = settings
        self.table = table
        self.live: dict[str, SeqState] = {}
        self.stale: set[int] = set()  # partitions (re)assigned but not yet recovered
        self.dropped: dict[str, int] = {}

    def state(self, rid: str) -> SeqState:
        found = self.live.get(rid)
        if found is None:
            raw = self.table.get(rid.encode())
            found = SeqState.loads(raw) if raw is not None else SeqState()
        return found

    async def recover(self, partition: int) -> None:
        async for event in recovery.read_tail(self.settings, partition):
            self.live[event.rid] = sequencing.observe(self.state(event.rid), event)
        self.stale.discard(partition)

    def checkpoint(self, rid: str, state: SeqState, partition: int) -> None:
        """Record a state whose events Kafka has acknowledged.

        Runs in a send callback, outside the stream's iteration, so it names the changelog
        partition itself instead of `table[key] = value` (which takes it from the current event).
        """
        key, raw = rid.encode(), state.dumps()
        self.table.data[key] = raw
        self.table.send_changelog(partition, key, raw)
        if state.terminal and self.live.get(rid) is state:
            del self.live[rid]  # finished: the table alone answers late duplicates


def register(app: faust.App, settings: Settings) -> None:
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
    codec: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    parts = settings.partitions
    tokens = app.topic(settings.tokens_topic, partitions=parts, **raw, **codec)
    out = app.topic(settings.events_topic, partitions=parts, **raw, **codec)
    index = app.topic(settings.responses_topic, partitions=parts, **raw, **codec)
    dead = app.topic(settings.deadletter_topic, partitions=1, **raw, **codec)
    table = app.Table("sequencer-state", partitions=parts, **raw)
    seq = Sequencer(settings, table)

    @app.on_partitions_assigned.connect  # type: ignore[misc]
    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        seq.stale.update(tp.partition for tp in assigned if tp.topic == settings.tokens_topic)

    @app.agent(tokens, name="sequencer")
    async def sequence(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            if message.partition in seq.stale:
                await seq.recover(message.partition)
            try:
                token = events.decode(message.value)
            except DecodeError as exc:
                seq.dropped["undecodable"] = seq.dropped.get("undecodable", 0) + 1
                log.warning(
                    "dead-lettering %s[%d]@%d: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc,
                )
                await dead.send(
                    key=message.key,
                    value=message.value,
                    headers=[
                        ("error", str(exc).encode()),
                        (
                            "origin",
                            f"{message.topic}/{message.partition}/{message.offset}".encode(),
                        ),
                    ],
                )
                continue
            outcome = sequencing.apply(seq.state(token.rid), token)
            if outcome.dropped:
                seq.dropped[outcome.dropped] = seq.dropped.get(outcome.dropped, 0) + 1
                continue
            key = token.rid.encode()
            seq.live[token.rid] = outcome.state
            if outcome.index is not None:
                await index.send(
                    key=key, value=events.encode(outcome.index), partition=message.partition
                )
            if outcome.event is not None:
                # Same partition number as the input: tokens and events are co-partitioned.
                sent = await out.send(
                    key=key, value=events.encode(outcome.event), partition=message.partition
                )
                state = outcome.state
                sent.add_done_callback(
                    lambda f, r=token.rid, s=state, p=message.partition: _on_sent(seq, f, r, s, p)
                )
            else:
                seq.checkpoint(token.rid, outcome.state, message.partition)


def _on_sent(
    seq: Sequencer, future: asyncio.Future[Any], rid: str, state: SeqState, partition: int
) -> None:
    if not future.cancelled() and future.exception() is None:
        seq.checkpoint(rid, state, partition)
        return
    # A lost event would leave a hole that later seqs step over. Stop at once; the worker that
    # takes over re-reads the log and sequences the unacknowledged inputs again.
    log.critical(
        "event for %s seq %d was not stored (%r); exiting",
        rid,
        state.seq,
        None if future.cancelled() else future.exception(),
    )
    os._exit(70)
