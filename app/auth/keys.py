"""API keys, without a database: how a key is made, what is stored of it (a digest, never the
key), and `Key`, a stored key's public facts. Storage is app/storage/keys.py.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

PREFIX = "trk_"
# 32 random bytes: token_urlsafe gives 43 characters. A longer string is not a key of ours, so
# the edge refuses it without a database query.
MAX_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Key:
    """A stored key as `keys list` shows it: nothing here can be used to authenticate."""

    id: str
    name: str
    created_ms: float
    revoked_ms: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None


def new_key() -> str:
    """A new key: 256 random bits, prefixed so a leaked one is easy to recognise (and scan for)."""
    return PREFIX + secrets.token_urlsafe(32)


def new_id() -> str:
    """A key's public id (`keys list`, `keys revoke`, the audit log): not a secret."""
    return "key_" + secrets.token_hex(6)


def digest(key: str) -> str:
    """What the database holds of a key: its sha256. A fast hash is right here because a key is
    256 random bits: no guess list or brute force gets anywhere near it, so the slow, salted
    password hashes (bcrypt, argon2), which exist to protect low-entropy human passwords, would
    only add milliseconds to every request. And an unsalted digest can be looked up by index."""
    return hashlib.sha256(key.encode()).hexdigest()


def plausible(credential: str) -> bool:
    """Whether a bearer credential is shaped like one of our API keys (a read token is not)."""
    return credential.startswith(PREFIX) and len(credential) <= MAX_LENGTH
