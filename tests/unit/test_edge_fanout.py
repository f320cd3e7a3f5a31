"""The fan-out's bookkeeping without Kafka: the ordering rule per response, index records that
only make a response known, finished responses leaving memory for the bounded directory, and
undecodable events dead-lettered."""

from __future__ import annotations

import dataclasses
import gc

from app import events
from app.contract.index import IndexRecord
from app.edge.directory import Directory, Entry
from app.edge.fanout import Fanout
from app.edge.tracked import DATA, SEQ, TERMINAL
from tests.unit.test_reader import SETTINGS, feed, make


def index_record(rid: str, state: str, seq: int = 0, first: int | None = None) -> bytes:
    return IndexRecord(rid, state, 0, created=1000.0, ts=1000.0, seq=seq, first=first).encode()


def seqs(fanout: Fanout, rid: str = "r") -> list[int]:
    return [f[SEQ] for f in fanout.responses[rid].recent]


def test_first_seq_wins_and_nothing_after_the_terminal_counts() -> None:
    fanout, _ = make()
    for seq in (1, 2, 2, 1, 3):
        feed(fanout, seq)
    feed(fanout, 4, events.ERROR)  # e.g. the watchdog's producer_lost
    feed(fanout, 4)  # the late writer's own seq 4: loses
    feed(fanout, 5)  # and everything after the terminal
    feed(fanout, 6, events.DONE)
    tracked = fanout.responses["r"]
    assert seqs(fanout) == [1, 2, 3, 4]
    assert tracked.recent[-1][TERMINAL] and b"event: error" in tracked.recent[-1][DATA]
    assert (tracked.status, tracked.final_seq) == (events.ERROR, 4)


def test_duplicates_never_reach_subscribers() -> None:
    fanout, _ = make()
    feed(fanout, 1)
    sub = fanout.subscribe(fanout.responses["r"])
    for seq in (1, 2, 2, 3):
        feed(fanout, seq)
    assert [f[SEQ] for f in sub.frames] == [2, 3]


def test_index_records_make_a_response_known_but_never_end_it() -> None:
    fanout, _ = make()
    fanout.on_index(index_record("r", "open"))
    tracked = fanout.responses["r"]
    assert tracked.from_start and tracked.created == 1000.0
    fanout.on_index(index_record("r", "done", seq=9, first=42))  # the log says otherwise
    assert tracked.final_seq == 0 and tracked.status == "in_progress"
    assert tracked.first == 42


def test_a_finished_response_leaves_memory_for_the_directory() -> None:
    fanout, _ = make()
    fanout.on_index(index_record("r", "open"))
    feed(fanout, 1)
    feed(fanout, 2, events.DONE)
    feed(fanout, 1, rid="other")  # still running: stays
    assert fanout.metrics.tracked._value.get() == 2
    fanout.evict(ended_before=-1.0)  # the end (at time 0.0) is not old enough yet
    assert "r" in fanout.responses
    fanout.evict(ended_before=1.0)
    assert list(fanout.responses) == ["other"]
    assert fanout.metrics.tracked._value.get() == 1
    entry = fanout.directory.get("r")
    assert entry is not None
    assert (entry.final_seq, entry.status, entry.partition, entry.first) == (2, "done", 0, 1)
    # What comes after it left (its terminal index record, a late writer) recreates nothing.
    fanout.on_index(index_record("r", "done", seq=2, first=1))
    feed(fanout, 3)
    assert "r" not in fanout.responses
    found = entry.tracked()
    assert (found.final_seq, found.status, found.frames_after(0)) == (2, "done", None)


def test_in_progress_responses_nobody_reads_are_dropped_after_long_silence() -> None:
    fanout, _ = make()
    feed(fanout, 1)
    sub = fanout.subscribe(fanout.responses["r"])
    fanout.evict_orphans(idle_before=1.0)
    assert "r" in fanout.responses  # a reader is waiting on it
    fanout.unsubscribe(fanout.responses["r"], sub)
    fanout.evict_orphans(idle_before=1.0)
    assert not fanout.responses and fanout.rings.bytes == 0


def test_the_directory_is_bounded_least_recently_used_first_out() -> None:
    directory = Directory(2)
    for rid in ("a", "b"):
        directory.put(Entry(rid, 0, None, 0.0, 1, "done"))
    assert directory.get("a") is not None  # a is now the most recent
    directory.put(Entry("c", 0, None, 0.0, 1, "done"))
    assert "b" not in directory and "a" in directory and "c" in directory and len(directory) == 2


def test_an_undecodable_event_is_counted_and_dead_lettered() -> None:
    fanout, _ = make()
    letters: list[tuple[object, ...]] = []
    fanout.deadletters.put = lambda *args: letters.append(args)  # type: ignore[method-assign]
    fanout.on_event(3, 17, b"r", b"{not json", 0.0)
    assert fanout.metrics.undecodable._value.get() == 1
    topic, partition, offset, key, value, reason = letters[0]
    assert (topic, partition, offset, key, value) == ("t.events", 3, 17, b"r", b"{not json")
    assert isinstance(reason, str) and reason
    assert not fanout.responses


def test_the_ring_budget_across_responses_survives_eviction() -> None:
    settings = dataclasses.replace(SETTINGS, edge_buffer_bytes=1000)
    fanout, _ = make(settings)
    for rid in ("a", "b", "c"):
        for seq in range(1, 6):
            feed(fanout, seq, rid=rid)
        feed(fanout, 6, events.DONE, rid=rid)
    held = [f for t in fanout.responses.values() for f in t.recent]
    assert fanout.rings.bytes == sum(len(f[DATA]) for f in held) <= 1000
    assert 0 < len(held) < 18  # the budget dropped the least recent rings
    fanout.evict(ended_before=1.0)
    assert fanout.rings.bytes == 0 and not fanout.responses


def test_rings_and_the_directory_hold_nothing_the_garbage_collector_walks() -> None:
    # Held as objects, 500 responses' rings made the edge's full collections ~200 ms long.
    fanout, _ = make()
    for seq in range(1, 50):
        feed(fanout, seq)
    feed(fanout, 50, events.DONE)
    directory = Directory(10)
    directory.put(Entry("gone", 2, 40, 1000.0, 7, "done"))
    gc.collect()  # the collector untracks a tuple of atomic values when it first sees it
    tracked = fanout.responses["r"]
    assert len(tracked.recent) == SETTINGS.edge_buffer_events
    assert not any(gc.is_tracked(f) for f in tracked.recent)
    assert not any(gc.is_tracked(held) for held in directory._entries.values())
    assert directory.get("gone") == Entry("gone", 2, 40, 1000.0, 7, "done")
