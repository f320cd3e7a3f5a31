"""Secrets kept in files of the data directory (the generated read-token secret, the
development key): created once with mode 0600, read back by every later start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read(path: Path) -> str | None:
    """The secret in `path`, or None when there is none (missing or empty)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def write(path: Path, secret: str) -> None:
    """Replace `path` with `secret`, readable by its owner only from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    _write_new(tmp, secret)
    os.replace(tmp, path)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret in `path`; created with `make()` when missing. Two processes starting at once
    (two edges) get the same one: the file appears whole (a hard link to a finished temporary
    file, which fails if another process linked first) and the loser reads the winner's."""
    found = read(path)
    if found is not None:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    _write_new(tmp, make())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    found = read(path)
    if found is None:
        raise RuntimeError(f"{path} is empty: delete it and start again")
    return found


def _write_new(path: Path, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
