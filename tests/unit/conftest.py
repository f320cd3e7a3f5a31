"""Fixtures shared by the unit tests: a migrated store on each backend (SQLite and the
session's PostgreSQL, through `database_url`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.storage import migrate
from app.storage.store import Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate.upgrade(database_url)
    s = Store.connect(database_url)
    yield s
    await s.close()
