"""The development key of `tokenrelay up` (`make run`): created on the first start, kept in the
database like any key and in plain text in `<data dir>/dev-key` (mode 0600), so every later
start prints the same demo URL. A key named `dev` belongs to it: when the file is gone, or its
key was revoked, the old `dev` key is revoked and a new one takes its place.
"""

from __future__ import annotations

from pathlib import Path

from app.auth import keys, secretfile
from app.storage.engine import create_engine
from app.storage.keys import Keys

NAME = "dev"
FILE = "dev-key"


def path(data_dir: str) -> Path:
    return Path(data_dir) / FILE


async def ensure(url: str, data_dir: str) -> tuple[str, bool]:
    """(the development key, whether it was created now). The database must be migrated."""
    where = path(data_dir)
    engine = create_engine(url)
    try:
        store = Keys(engine)
        held = secretfile.read(where)
        if held is not None:
            found = await store.find(keys.digest(held))
            if found is not None and not found.revoked:
                return held, False
        await store.revoke(NAME)  # lost or revoked: its successor takes the name
        _, plaintext = await store.create(NAME)
        secretfile.write(where, plaintext)
        return plaintext, True
    finally:
        await engine.dispose()
