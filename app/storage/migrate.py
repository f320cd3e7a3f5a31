"""Schema migrations (Alembic, app/storage/migrations/versions/): `upgrade` to the newest
revision, `revision` says where a database is. Run by `tokenrelay db upgrade`, by `tokenrelay up`,
and at every worker and edge start when the database is SQLite (a development file, migrated
without a separate step); a PostgreSQL database is migrated only by `tokenrelay db upgrade`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.storage.engine import create_engine, is_sqlite

SCRIPTS = Path(__file__).resolve().parent / "migrations"
# Two processes starting at once migrate one after the other (SQLite: BEGIN IMMEDIATE).
PG_LOCK = 0x746F6B72  # "tokr"


async def upgrade(url: str, revision: str = "head") -> None:
    engine = create_engine(url, immediate=True)
    try:
        async with engine.begin() as conn:
            if not is_sqlite(url):
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK})
            await conn.run_sync(_upgrade, revision)
    finally:
        await engine.dispose()


async def upgrade_if_sqlite(url: str) -> None:
    """What worker and edge do at start."""
    if is_sqlite(url):
        await upgrade(url)


async def revision(url: str) -> str | None:
    """The database's current revision (None: never migrated)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def head() -> str | None:
    """The newest revision of the migration scripts (what `upgrade` migrates to)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return ScriptDirectory.from_config(config).get_current_head()


def _upgrade(connection: Any, target: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, target)
