"""The watchdog without Kafka: its table follows the index (and forgets finished responses), and
the reaper ends only a silent response of an owned partition, at the seq after the log's last,
and only when its own event won the race."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError

from agents.sideread import Folded, SideReader
from agents.watchdog import Watchdog, merge
from app.contract import index
from app.contract.index import IndexRecord
from app.events import decode
from app.ordering import Order
from app.settings import Settings

SETTINGS = Settings(topic_prefix="t", response_idle_timeout_s=2.0, writer_beat_s=1.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dead:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


class Log:
    """A response's events partition as the watchdog's side reads and publisher see it."""

    def __init__(self, folded: Folded) -> None:
        self.folded = folded
        self.sent: list[tuple[str, str, bytes, int | None]] = []
        self.writer_first = False  # the writer's late event takes the seq before ours

    async def fold(self, rid: str, partition: int, **kwargs: Any) -> Folded:
        return self.folded

    async def close(self) -> None:
        pass

    async def send(self, topic: str, key: str, value: bytes, partition: int | None = None) -> int:
        self.sent.append((topic, key, value, partition))
        offset = 100 + len(self.sent)
        if topic == SETTINGS.events_topic:
            seq = orjson.loads(value)["seq"]
            self.folded.offsets[seq] = offset - 50 if self.writer_first else offset
        return offset

    async def stop(self) -> None:
        pass


def message(value: bytes, key: bytes = b"r") -> Any:
    return SimpleNamespace(value=value, key=key, topic="t.responses", partition=2, offset=7)


def record(state: str, ts: float, seq: int = 3, rid: str = "r", partition: int = 2) -> bytes:
    created = ts - 1000
    return IndexRecord(rid, state, partition, created, ts, seq, first=10, last=12).encode()


def make(log: Log, owned: set[int]) -> tuple[Watchdog, dict[bytes, bytes], Dead]:
    table: dict[bytes, bytes] = {}
    dead = Dead()
    dog = Watchdog(SETTINGS, table=table, dead=dead, recovered=lambda: True)
    dog.owned = owned
    dog._reader = log  # type: ignore[assignment]
    dog._publisher = log  # type: ignore[assignment]
    return dog, table, dead


async def test_the_table_follows_the_index_and_forgets_a_finished_response() -> None:
    dog, table, dead = make(Log(Folded()), {2})
    now = time.time() * 1000
    await dog.on_message(message(record("open", now, seq=0)))
    await dog.on_message(message(record("beat", now + 5, seq=4)))
    held = index.decode(table[b"r"])
    assert (held.state, held.seq, held.ts, held.created) == ("beat", 4, now + 5, now - 1000)
    dog.seen_alive["r"] = now
    await dog.on_message(message(record("done", now + 9, seq=5)))
    assert table == {} and dog.seen_alive == {} and not dead.sent


class Writes(dict[bytes, bytes]):
    """A table that counts its writes: each is a changelog record in Faust."""

    writes = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)


async def test_a_beat_that_tells_the_reaper_nothing_new_is_not_written() -> None:
    # A worker's beat when it takes a request comes milliseconds after the edge's `open`;
    # written, it doubled the changelog in a burst of new responses (make bench, 100 started at
    # once: first tokens p50 160 ms late, against 67 ms without).
    dog, _, _ = make(Log(Folded()), {2})
    table = dog.table = Writes()
    now = time.time() * 1000
    beat_ms = SETTINGS.writer_beat_s * 1000
    await dog.on_message(message(record("open", now, seq=0)))
    await dog.on_message(message(record("beat", now + 3, seq=0)))  # taken: nothing new
    assert table.writes == 1 and index.decode(table[b"r"]).ts == now
    await dog.on_message(message(record("beat", now + 6, seq=2)))  # progress: written
    await dog.on_message(message(record("beat", now + 6 + beat_ms, seq=2)))  # a beat later
    assert table.writes == 3 and index.decode(table[b"r"]).ts == now + 6 + beat_ms


async def test_an_undecodable_index_record_is_dead_lettered_and_changes_nothing() -> None:
    dog, table, dead = make(Log(Folded()), {2})
    await dog.on_message(message(b"{not json"))
    assert table == {} and dog.counts == {"undecodable": 1}
    (letter,) = dead.sent
    assert letter["value"] == b"{not json"
    assert dict(letter["headers"])["origin"] == b"t.responses/2/7"


def test_merge_keeps_the_newest_progress_and_the_first_offset() -> None:
    a = IndexRecord("r", "open", 1, created=5.0, ts=5.0, seq=0, first=10, last=None)
    b = IndexRecord("r", "beat", 1, created=6.0, ts=9.0, seq=4, first=None, last=20)
    assert merge(a, b) == IndexRecord("r", "beat", 1, 5.0, 9.0, 4, first=10, last=20)
    assert merge(None, b) == b


async def test_a_silent_response_is_ended_after_the_logs_last_seq() -> None:
    log = Log(Folded(order=Order(last=7), last_ts=time.time() * 1000 - 5000))
    dog, table, _ = make(log, {2})
    table[b"r"] = record("beat", time.time() * 1000 - 5000, seq=3)
    await dog.reap()
    (events_topic, key, value, part), (index_topic, _, done, _) = log.sent
    lost = decode(value)
    assert (events_topic, key, part) == (SETTINGS.events_topic, "r", 2)
    assert (lost.type, lost.seq, lost.code, lost.retriable) == ("error", 8, "producer_lost", True)
    assert index_topic == SETTINGS.responses_topic
    assert (index.decode(done).state, index.decode(done).seq) == ("error", 8)
    assert dog.counts == {"ended": 1}


async def test_the_reaper_spares_live_foreign_and_already_won_responses() -> None:
    now = time.time() * 1000
    # Live by its last beat; silent but on a partition another worker owns.
    log = Log(Folded(order=Order(last=3), last_ts=now - 5000))
    dog, table, _ = make(log, {2})
    table[b"live"] = record("beat", now, rid="live")
    table[b"foreign"] = record("beat", now - 5000, rid="foreign", partition=4)
    await dog.reap()
    assert log.sent == []
    # Silent by the index, but the log shows a write within the timeout: a late beat.
    log.folded.last_ts = now
    table[b"r"] = record("beat", now - 5000)
    await dog.reap()
    assert log.sent == [] and dog.seen_alive["r"] == now
    # Silent, and the writer's late event took the seq first: nothing is indexed as ended.
    dog.seen_alive.clear()
    log.folded.last_ts = now - 5000
    log.writer_first = True
    await dog.reap()
    assert [topic for topic, *_ in log.sent] == [SETTINGS.events_topic]
    assert "ended" not in dog.counts


async def test_a_response_the_writer_ended_is_indexed_not_ended_again() -> None:
    now = time.time() * 1000
    log = Log(Folded(order=Order(last=9, final=9), final_type="done", last_ts=now - 5000))
    dog, table, _ = make(log, {2})
    table[b"r"] = record("beat", now - 5000)
    await dog.reap()
    ((topic, _, done, _),) = log.sent
    assert topic == SETTINGS.responses_topic
    assert (index.decode(done).state, index.decode(done).seq) == ("done", 9)


class Unreachable(Log):
    """Kafka down: the side read's consumer cannot bootstrap (a broker restarting)."""

    async def fold(self, rid: str, partition: int, **kwargs: Any) -> Folded:
        raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")


async def test_the_reaper_survives_kafka_being_unreachable() -> None:
    # A broker restart under load crashed the worker: the reaper's side read raised out of the
    # Faust timer, which ends the worker (tests/integration/test_chaos.py found it).
    log = Unreachable(Folded())
    dog, table, _ = make(log, {2})
    table[b"r"] = record("beat", time.time() * 1000 - 5000, seq=3)
    await dog.reap()  # no exception
    assert dog.counts == {"reap_failed": 1} and b"r" in table and not log.sent
    log.__class__ = Log  # Kafka is back: the next tick ends it
    log.folded = Folded(order=Order(last=3), last_ts=time.time() * 1000 - 5000)
    await dog.reap()
    assert dog.counts == {"reap_failed": 1, "ended": 1}


async def test_a_side_reader_keeps_no_consumer_that_failed_to_start() -> None:
    port = free_port()  # nothing listens: bootstrap fails at once
    reader = SideReader(Settings(kafka=f"127.0.0.1:{port}"), "test")
    for _ in range(2):
        with pytest.raises(KafkaConnectionError):
            await reader.fold("r", 0)
        assert reader._consumer is None  # the next read starts a new one
