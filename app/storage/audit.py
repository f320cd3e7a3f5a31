"""The audit log in the database: appending to the one chain, reading it back, verifying it.

Appending takes the chain head (`audit_head`, one row) under a lock first, in the caller's
transaction: an `UPDATE` that changes nothing, because it is the one statement that locks on
both databases. PostgreSQL holds the row lock until commit; SQLite's first write takes the
database's write lock, and taking it before any read keeps a WAL reader's snapshot from going
stale under it. So appenders in several workers (or several tasks) each see the head the one
before them committed, and the chain has one order. The persist agent appends a batch's new
responses in the transaction that stores them (`Store.put`), and its cancels here (`append`);
the unique `key` makes a re-delivered entry a no-op.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, BinaryIO, TextIO

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import audit, events
from app.audit import Entry, Record
from app.storage.engine import create_engine
from app.storage.schema import audit_head, audit_log

PAGE = 1000  # records per query when walking the chain


async def append_in(
    conn: AsyncConnection, entries: Sequence[Entry], recorded_ms: float
) -> list[Record]:
    """Chain `entries` (those whose key is not in the log yet) after the head, in `conn`'s
    transaction; the records appended."""
    if not entries:
        return []
    head = audit_head.c
    await conn.execute(update(audit_head).where(head.id == 1).values(seq=head.seq))  # the lock
    seq, prev = (await conn.execute(select(head.seq, head.hash).where(head.id == 1))).one()
    keys = [e.key for e in entries]
    known = await conn.execute(select(audit_log.c.key).where(audit_log.c.key.in_(keys)))
    seen = {row[0] for row in known}
    records: list[Record] = []
    for entry in entries:
        if entry.key in seen:
            continue
        seen.add(entry.key)
        seq += 1
        record = audit.chain(entry, seq, prev, recorded_ms)
        records.append(record)
        prev = record.hash
    if records:
        await conn.execute(
            audit_log.insert(),
            [{**r.fields(), "prev_hash": r.prev_hash, "hash": r.hash} for r in records],
        )
        await conn.execute(update(audit_head).where(head.id == 1).values(seq=seq, hash=prev))
    return records


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, entries: Sequence[Entry]) -> list[Record]:
        """Append in a transaction of its own (control actions)."""
        async with self.engine.begin() as conn:
            return await append_in(conn, entries, events.now_ms())

    async def head(self) -> tuple[int, str]:
        async with self.engine.connect() as conn:
            return await _head(conn)

    async def records(
        self, since_ms: float | None = None, until_ms: float | None = None
    ) -> AsyncIterator[Record]:
        """Records in seq order, those with `since_ms <= at_ms < until_ms` when given."""
        async with self.engine.connect() as conn:
            async for record in _pages(conn, since_ms, until_ms):
                yield record

    async def verify(self) -> tuple[int, str] | None:
        """None when the chain holds; else its first bad seq and why. The head and the records
        are read in one snapshot (one transaction, PostgreSQL's REPEATABLE READ), so appends
        while it walks are neither half-seen nor reported."""
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                head = await _head(conn)
                walk = audit.Verifier()
                async for record in _pages(conn):
                    if (bad := walk.check(record)) is not None:
                        return bad
                return walk.end(head)


async def _head(conn: AsyncConnection) -> tuple[int, str]:
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    seq, hash_ = (await conn.execute(query)).one()
    return int(seq), str(hash_)


async def _pages(
    conn: AsyncConnection, since_ms: float | None = None, until_ms: float | None = None
) -> AsyncIterator[Record]:
    """Records in seq order, a page at a time (a long chain never sits in memory)."""
    c = audit_log.c
    after = 0
    while True:
        query = select(audit_log).where(c.seq > after).order_by(c.seq).limit(PAGE)
        if since_ms is not None:
            query = query.where(c.at_ms >= since_ms)
        if until_ms is not None:
            query = query.where(c.at_ms < until_ms)
        rows = (await conn.execute(query)).mappings().all()
        for row in rows:
            yield _record(row)
        if len(rows) < PAGE:
            return
        after = rows[-1]["seq"]


def _record(row: Any) -> Record:
    return Record(
        seq=int(row["seq"]), kind=row["kind"], key=row["key"], rid=row["rid"],
        at_ms=row["at_ms"], recorded_ms=row["recorded_ms"], data=row["data"],
        prev_hash=row["prev_hash"], hash=row["hash"],
    )  # fmt: skip


async def run_verify(url: str, out: TextIO) -> int:
    """`tokenrelay audit verify`: 0 when the chain holds, else 1 naming the first bad seq."""
    engine = create_engine(url)
    try:
        log = AuditLog(engine)
        bad = await log.verify()
        if bad is not None:
            out.write(f"audit chain broken at seq {bad[0]}: {bad[1]}\n")
            return 1
        seq, hash_ = await log.head()
        out.write(f"audit chain ok: {seq} records, head {hash_}\n")
        return 0
    finally:
        await engine.dispose()


async def run_export(
    url: str, since_ms: float | None, until_ms: float | None, out: BinaryIO
) -> int:
    """`tokenrelay audit export`: the records of that time range as JSON lines, in seq order."""
    engine = create_engine(url)
    try:
        async for record in AuditLog(engine).records(since_ms, until_ms):
            out.write(record.to_json() + b"\n")
        out.flush()
        return 0
    finally:
        await engine.dispose()
