"""`Store`: complete responses in the database. The one API the persist agent, the edge's replay
and later features (cache, audit, conversations) use; rows never leave this module as rows.

Writes are idempotent by response id (INSERT ... ON CONFLICT DO NOTHING, both dialects): a
response delivered twice, or persisted by two workers during a rebalance, is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app import audit, events
from app.storage import audit as audit_log
from app.storage import eventlog
from app.storage.engine import create_engine
from app.storage.records import StoredResponse
from app.storage.schema import event_logs, responses

_COLUMNS = (
    "id", "status", "partition", "created_ms", "first_token_ms", "finished_ms", "stored_ms",
    "models", "request", "sources", "usage", "error", "views", "last_seq", "complete", "missing",
)  # fmt: skip


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    @classmethod
    def connect(cls, url: str) -> Store:
        """A store on `url` (no I/O until first used); the schema must be migrated."""
        return cls(create_engine(url))

    async def close(self) -> None:
        await self.engine.dispose()

    async def put(self, batch: Sequence[StoredResponse]) -> list[str]:
        """Store responses and their event logs in one transaction; the ids newly stored (the
        others were stored before, and are left as they were)."""
        batch = list({r.id: r for r in reversed(batch)}.values())[::-1]  # one per id: the first
        if not batch:
            return []
        rows = [_row(r) for r in batch]
        insert = self._insert(responses).on_conflict_do_nothing(index_elements=["id"])
        async with self.engine.begin() as conn:
            result = await conn.execute(insert.returning(responses.c.id), rows)
            new = {row[0] for row in result}
            logs = [
                {"response_id": r.id, "stream": stream, "events": len(values),
                 "bytes": sum(map(len, values)), "log": eventlog.pack(values)}
                for r in batch if r.id in new for stream, values in r.logs.items()
            ]  # fmt: skip
            if logs:
                await conn.execute(event_logs.insert(), logs)
            # Their audit records, in the same transaction: each new response's exactly once.
            entries = [audit.of_response(r) for r in batch if r.id in new]
            await audit_log.append_in(conn, entries, events.now_ms())
        return [r.id for r in batch if r.id in new]

    async def stored(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are stored."""
        wanted = list(set(ids))
        if not wanted:
            return set()
        async with self.engine.connect() as conn:
            result = await conn.execute(select(responses.c.id).where(responses.c.id.in_(wanted)))
            return {row[0] for row in result}

    async def get(self, rid: str) -> StoredResponse | None:
        """A stored response without its event logs (`log` reads one)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(select(responses).where(responses.c.id == rid))
            row = result.mappings().first()
        return None if row is None else _response(row)

    async def latest_done(self, request_hash: str, since_ms: float) -> str | None:
        """The newest response of `request_hash` that ended with `done` at or after `since_ms`,
        stored whole and not itself a cached copy (the response cache's one indexed query)."""
        c = responses.c
        query = (
            select(c.id)
            .where(
                c.request_hash == request_hash,
                c.finished_ms >= since_ms,
                c.status == "done",
                c.complete.is_(True),
                c.cached_from.is_(None),
            )
            .order_by(c.finished_ms.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            found: str | None = (await conn.execute(query)).scalar()
        return found

    async def conversation(
        self, cid: str, *, latest: int | None = None, upto: int | None = None
    ) -> list[StoredResponse]:
        """The stored turns of a conversation, in order (turn, creation), without their logs:
        all of them, or only the `latest` ones numbered at most `upto`. A response stored with
        no conversation is the first turn of the conversation named by its id (one continued
        with `previous_response_id`).

        Each turn's request holds the context it was sent, so reading every turn of a long
        conversation reads its history once per turn: a new turn reads only the latest it
        can use (the context's turn cap)."""
        c = responses.c
        number = func.coalesce(c.turn, 1)  # a root is turn 1
        query = select(responses).where(_of_conversation(cid))
        if upto is not None:
            query = query.where(number <= upto)
        if latest is None:
            query = query.order_by(number, c.created_ms, c.id)
        else:
            query = query.order_by(number.desc(), c.created_ms.desc(), c.id.desc()).limit(latest)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        found = [_response(row) for row in rows]
        return found if latest is None else found[::-1]

    async def turn_numbers(self, cid: str, upto: int | None = None) -> tuple[int, int]:
        """(how many turns are stored numbered at most `upto`, the highest number stored)."""
        number = func.coalesce(responses.c.turn, 1)
        counted = func.count() if upto is None else func.count().filter(number <= upto)
        query = select(counted, func.max(number)).where(_of_conversation(cid))
        async with self.engine.connect() as conn:
            count, last = (await conn.execute(query)).one()
        return int(count or 0), int(last or 0)

    async def log(self, rid: str, stream: str = "") -> list[bytes] | None:
        """The exact Kafka values of a stored stream's events, in seq order ("" the response's
        own, else a view's); None when not stored."""
        query = select(event_logs.c.log).where(
            event_logs.c.response_id == rid, event_logs.c.stream == stream
        )
        async with self.engine.connect() as conn:
            blob = (await conn.execute(query)).scalar()
        return None if blob is None else eventlog.unpack(blob)


def _of_conversation(cid: str) -> Any:
    c = responses.c
    return or_(c.conversation_id == cid, and_(c.id == cid, c.conversation_id.is_(None)))


def _response(row: Any) -> StoredResponse:
    values = {name: row[name] for name in _COLUMNS}
    values["views"] = tuple(values["views"] or ())
    return StoredResponse(**values)


def _row(r: StoredResponse) -> dict[str, Any]:
    row = {name: getattr(r, name) for name in _COLUMNS}
    row["models"] = dict(r.models)
    row["sources"] = dict(r.sources)
    row["views"] = list(r.views)
    row["request_hash"] = r.request_hash
    row["cached_from"] = r.cached_from
    row["conversation_id"] = r.conversation_id
    row["turn"] = r.turn
    return row
