"""API keys in the database (table `api_keys`): create, list, revoke, and the edge's look-up by
digest; and the `tokenrelay keys` commands. The key itself is returned once, by `create`, and
stored nowhere: only its sha256 (app/auth/keys.py says why that hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app import events
from app.auth import keys
from app.auth.keys import Key
from app.storage.engine import create_engine
from app.storage.schema import api_keys

MAX_NAME = 128


class NameTaken(ValueError):
    """A key not revoked already has this name."""


class Keys:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, name: str) -> tuple[Key, str]:
        """A new key named `name`: (what is stored of it, the key itself, shown once)."""
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise ValueError(f"a key's name is 1-{MAX_NAME} printable characters")
        plaintext = keys.new_key()
        key = Key(keys.new_id(), name, events.now_ms())
        row = {"id": key.id, "name": name, "hash": keys.digest(plaintext),
               "created_ms": key.created_ms, "revoked_ms": None}  # fmt: skip
        try:
            async with self.engine.begin() as conn:
                await conn.execute(api_keys.insert(), row)
        except IntegrityError:
            raise NameTaken(f"a key named {name!r} exists: revoke it first") from None
        return key, plaintext

    async def all(self) -> list[Key]:
        """Every key, revoked ones too, oldest first."""
        c = api_keys.c
        query = select(c.id, c.name, c.created_ms, c.revoked_ms).order_by(c.created_ms, c.id)
        async with self.engine.connect() as conn:
            return [_key(row) for row in (await conn.execute(query)).mappings()]

    async def find(self, digest: str) -> Key | None:
        """The key with this digest, revoked or not (the edge's look-up: one indexed query)."""
        c = api_keys.c
        query = select(c.id, c.name, c.created_ms, c.revoked_ms).where(c.hash == digest)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _key(row)

    async def revoke(self, id_or_name: str) -> Key | None:
        """Revoke the key with this id, else the one not revoked with this name; the key as it
        is now (revoked), or None when there is none. Revoking twice keeps the first time."""
        c = api_keys.c
        now = events.now_ms()
        async with self.engine.begin() as conn:
            for where in (c.id == id_or_name, (c.name == id_or_name) & c.revoked_ms.is_(None)):
                query = select(c.id, c.name, c.created_ms, c.revoked_ms).where(where)
                row = (await conn.execute(query)).mappings().first()
                if row is None:
                    continue
                if row["revoked_ms"] is None:
                    await conn.execute(update(api_keys).where(c.id == row["id"]).values(
                        revoked_ms=now))  # fmt: skip
                    return Key(row["id"], row["name"], row["created_ms"], now)
                return _key(row)
        return None


def _key(row: Any) -> Key:
    return Key(row["id"], row["name"], row["created_ms"], row["revoked_ms"])


def when(ms: float | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def table(found: Sequence[Key]) -> str:
    """`keys list`: id, name, created, revoked; never a key or its digest."""
    rows = [("ID", "NAME", "CREATED", "REVOKED")]
    rows += [(k.id, k.name, when(k.created_ms), when(k.revoked_ms)) for k in found]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3] + "\n"
        for r in rows
    )


async def run(url: str, action: str, arg: str | None, out: TextIO, err: TextIO) -> int:
    """`tokenrelay keys create --name NAME | list | revoke ID_OR_NAME`."""
    engine = create_engine(url)
    try:
        store = Keys(engine)
        if action == "list":
            out.write(table(await store.all()))
            return 0
        if action == "create":
            try:
                key, plaintext = await store.create(arg or "")
            except ValueError as exc:
                err.write(f"tokenrelay keys create: {exc}\n")
                return 1
            out.write(f"created API key {key.id} named {key.name!r}; it is shown only now:\n")
            out.write(plaintext + "\n")  # alone on the last line, for scripts
            return 0
        revoked = await store.revoke(arg or "")
        if revoked is None:
            err.write(f"tokenrelay keys revoke: no key with id or name {arg!r}\n")
            return 1
        out.write(f"revoked API key {revoked.id} named {revoked.name!r} at "
                  f"{when(revoked.revoked_ms)}\n")  # fmt: skip
        return 0
    finally:
        await engine.dispose()
