"""What the chaos tests assert: every reader got seq 1..N exactly once and one terminal event (an
`error` only where the fault explains it); the events topic, folded by the readers' rule, is what
the readers got, and a seq appears twice in it only where the rule exists for (the watchdog's
`producer_lost` racing a writer); and when the cluster's partitions are back in sync."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from app import kafka_security
from app.settings import Settings

from .chaosload import TERMINAL, Reader
from .kafkautil import Record, read_topic

ISR_TIMEOUT_S = 120.0


def check_readers(
    readers: list[Reader], *, may_lose_writer: Callable[[Reader], bool]
) -> Counter[str]:
    """Each reader's events: contiguous from 1, one terminal, last. `done`, or `error`
    `producer_lost` where `may_lose_writer` says a fault explains it (a killed worker's responses
    lose their writer; a broker fault can hold a writer or a request past the idle timeout on a
    starved machine; the watchdog then ends the response, as it must). Returns the ends."""
    assert readers, "no responses were read"
    bad = []
    ends: Counter[str] = Counter()
    for r in readers:
        seqs = [e.seq for e in r.events]
        if seqs != list(range(1, len(seqs) + 1)):
            dup = sorted(s for s, n in Counter(seqs).items() if n > 1)
            missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
            bad.append(f"{r.rid}: {len(seqs)} events, duplicated {dup[:10]}, lost {missing[:10]}")
            continue
        terminals = [e for e in r.events if e.type in TERMINAL]
        if len(terminals) != 1 or r.events[-1] is not terminals[0]:
            bad.append(f"{r.rid}: terminal events {terminals}, answers {r.answers}")
            continue
        end = terminals[0]
        ends[end.type if end.code is None else f"{end.type} {end.code}"] += 1
        lost_writer = end.type == "error" and end.code == "producer_lost" and may_lose_writer(r)
        if end.type != "done" and not lost_writer:
            timeline = [(e.seq, e.type, round(e.recv, 1)) for e in r.events[-4:]]
            bad.append(f"{r.rid}: ended {end.type} {end.code}, not explained by a fault "
                       f"(created at {r.created:.1f}, last events {timeline})")  # fmt: skip
    assert not bad, f"{len(bad)} of {len(readers)} readers wrong:\n" + "\n".join(bad[:20])
    return ends


async def check_log(settings: Settings, readers: list[Reader]) -> int:
    """Read the events topic; assert that the readers' rule over it gives each reader's events,
    and that a duplicated seq belongs to a response the watchdog ended. Returns the number of
    duplicated records."""
    by_rid: dict[str, list[tuple[int, str]]] = {r.rid: [] for r in readers}
    ended: set[str] = set()
    taken = 0

    def until(records: list[Record]) -> bool:
        nonlocal taken
        for record in records[taken:]:
            rid = record.key.decode() if record.key else ""
            if rid in by_rid:
                value = orjson.loads(record.value)
                by_rid[rid].append((value["seq"], value["type"]))
                if value["type"] in TERMINAL:
                    ended.add(rid)
        taken = len(records)
        return len(ended) == len(by_rid)

    await read_topic(settings, settings.events_topic, until=until, timeout_s=90)
    assert len(ended) == len(by_rid), f"{len(by_rid) - len(ended)} responses unended in the log"
    duplicates = 0
    bad = []
    for r in readers:
        log = by_rid[r.rid]
        extra = len(log) - len({seq for seq, _ in log})
        duplicates += extra
        got = [(e.seq, e.type) for e in r.events]
        if fold(log) != got:
            bad.append(f"{r.rid}: the log folds to {fold(log)[-3:]}, the reader got {got[-3:]}")
        if extra and not (r.events[-1].type == "error" and r.events[-1].code == "producer_lost"):
            dup = sorted(s for s, n in Counter(seq for seq, _ in log).items() if n > 1)
            bad.append(f"{r.rid}: seqs {dup[:10]} twice in the log, and no watchdog ended it")
    assert not bad, "\n".join(bad[:20])
    return duplicates


def fold(log: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """app/ordering.py's rule: a seq above every accepted one counts, nothing after a terminal."""
    out: list[tuple[int, str]] = []
    for seq, kind in log:
        if out and (seq <= out[-1][0] or out[-1][1] in TERMINAL):
            continue
        out.append((seq, kind))
    return out


async def full_isr(settings: Settings) -> None:
    """Wait until every partition of the live path's topics has all its replicas (as many as
    `settings.replication`) in sync."""
    topics = [settings.events_topic, settings.responses_topic, settings.requests_topic]
    admin = AIOKafkaAdminClient(**kafka_security.aiokafka_options(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + ISR_TIMEOUT_S
        while True:
            partitions = [(t["topic"], p) for t in await admin.describe_topics(topics)
                          for p in t["partitions"]]  # fmt: skip
            assert all(len(p["replicas"]) == settings.replication for _, p in partitions)
            short = [f"{t}/{p['partition']} in sync {p['isr']} of {p['replicas']}"
                     for t, p in partitions if len(p["isr"]) < len(p["replicas"])]  # fmt: skip
            if not short:
                return
            assert time.monotonic() < deadline, f"replicas not back in sync: {short[:10]}"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
