"""API keys in the database (app/storage/keys.py) and the development key (app/auth/devkey.py),
on SQLite and PostgreSQL: only digests stored, names unique among the keys not revoked, revoke
by id or name, `tokenrelay keys` output."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth import devkey, keys
from app.storage.keys import Keys, NameTaken, run
from app.storage.schema import api_keys
from app.storage.store import Store


async def test_create_find_list_revoke(store: Store) -> None:
    k = Keys(store.engine)
    alice, plaintext = await k.create("alice")
    assert keys.plausible(plaintext) and alice.name == "alice" and not alice.revoked
    found = await k.find(keys.digest(plaintext))
    assert found == alice
    assert await k.find(keys.digest(keys.new_key())) is None
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys))).mappings().all()
    assert len(rows) == 1 and plaintext not in str(dict(rows[0]))  # the digest only
    assert rows[0]["hash"] == keys.digest(plaintext)

    with pytest.raises(NameTaken):
        await k.create("alice")
    bob, _ = await k.create("bob")
    assert [x.name for x in await k.all()] == ["alice", "bob"]

    by_name = await k.revoke("alice")
    assert by_name is not None and by_name.id == alice.id and by_name.revoked
    again = await k.revoke(alice.id)  # revoking twice keeps the first time
    assert again is not None and again.revoked_ms == by_name.revoked_ms
    assert (await k.find(keys.digest(plaintext))) == by_name
    assert await k.revoke("alice") is None  # no key named alice is left active
    second, _ = await k.create("alice")  # the name is free again
    by_id = await k.revoke(bob.id)
    assert by_id is not None and by_id.name == "bob"
    listed = {x.id: x.revoked for x in await k.all()}
    assert listed == {alice.id: True, bob.id: True, second.id: False}
    with pytest.raises(ValueError):
        await k.create("")


async def test_cli_create_prints_the_key_last_and_list_never(
    store: Store, database_url: str
) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await run(database_url, "create", "ci", out, err) == 0
    plaintext = out.getvalue().splitlines()[-1]
    assert keys.plausible(plaintext)
    listed = io.StringIO()
    assert await run(database_url, "list", None, listed, err) == 0
    lines = listed.getvalue().splitlines()
    assert lines[0].split() == ["ID", "NAME", "CREATED", "REVOKED"] and "ci" in lines[1]
    assert plaintext not in listed.getvalue() and keys.digest(plaintext) not in listed.getvalue()
    assert await run(database_url, "revoke", "ci", out, err) == 0
    assert await run(database_url, "revoke", "ci", out, err) == 1
    assert "no key" in err.getvalue()
    assert await run(database_url, "create", "", out, err) == 1


async def test_development_key_is_made_once_and_replaced_when_lost(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    key, created = await devkey.ensure(database_url, data)
    assert created and keys.plausible(key)
    assert stat.S_IMODE(devkey.path(data).stat().st_mode) == 0o600
    assert await devkey.ensure(database_url, data) == (key, False)
    k = Keys(store.engine)
    found = await k.find(keys.digest(key))
    assert found is not None and found.name == devkey.NAME
    devkey.path(data).unlink()  # the file is lost: the old dev key is revoked, a new one made
    replaced, created = await devkey.ensure(database_url, data)
    assert created and replaced != key
    old = await k.find(keys.digest(key))
    assert old is not None and old.revoked
    await k.revoke(devkey.NAME)  # revoked by hand: the next start makes another
    third, created = await devkey.ensure(database_url, data)
    assert created and third not in (key, replaced)
