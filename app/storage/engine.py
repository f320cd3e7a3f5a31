"""The database URL and engine: SQLite (aiosqlite) in the data directory by default,
PostgreSQL (asyncpg) when `TOKENRELAY_DATABASE_URL` names one.

SQLAlchemy 2 core rather than a driver alone: one dialect-neutral schema and upsert for two
databases, Alembic's versioned migrations on top, and a pool. Its cost is on the write side
(a few hundred µs a statement) where the persist agent batches anyway; the replay path reads one
row holding a response's event log (app/storage/eventlog.py), so the ORM-free core adds ~0.1 ms
to a read that is dominated by decoding the events (measured in docs/storage.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# A writer waits this long for SQLite's lock (the worker writes while an edge reads or migrates).
SQLITE_BUSY_MS = 10_000


def normalise(url: str) -> str:
    """The async driver's URL: `postgresql://`/`postgres://` -> asyncpg, `sqlite://` ->
    aiosqlite; a URL that names its driver already is kept."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise(url)).get_backend_name() == "sqlite"


def create_engine(url: str, *, immediate: bool = False) -> AsyncEngine:
    """An engine for `url`. With SQLite: the file's directory is created, WAL lets an edge read
    while the worker writes, and `immediate` makes every transaction take the write lock at its
    start (migrations: two processes starting at once must not both see an empty database)."""
    parsed = make_url(normalise(url))
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed)

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # Transactions are begun below, not by the driver (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
