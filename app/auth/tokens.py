"""Read tokens: short-lived capabilities to read one response (its events, its views, its
snapshot) or one conversation, handed out in the answer to the POST that created it.

A token is a JWT signed with HMAC-SHA256 (PyJWT) under a server secret, so any edge holding the
secret checks it without a database or a shared store. Claims: `scope` (`response:<id>` or
`conversation:<id>`: typed, since a conversation may be named by its first response's id),
`exp` and `iat` (epoch seconds). The header's `kid` names the secret that signed it, a digest of
that secret, so rotation needs no key names: with `TOKENRELAY_READ_TOKEN_SECRETS=new,old` the
first signs and every one verifies, and tokens signed with `old` keep working until it is
dropped. A digest of the secret tells an attacker nothing the signature does not already.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt

from app.auth import secretfile
from app.errors import Unauthorized
from app.settings import Settings

RESPONSE = "response:"
CONVERSATION = "conversation:"
ALGORITHM = "HS256"
# HS256 wants a key at least as long as its hash (RFC 7518 3.2); PyJWT warns below that.
MIN_SECRET_BYTES = 32
SECRET_FILE = "read-token-secret"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a checked token allows: one scope, until `expires_ms` (epoch ms)."""

    scope: str
    expires_ms: float


def response_scope(rid: str) -> str:
    return RESPONSE + rid


def conversation_scope(cid: str) -> str:
    return CONVERSATION + cid


def kid(secret: str) -> str:
    return hashlib.sha256(b"tokenrelay read token\0" + secret.encode()).hexdigest()[:16]


def parse_secrets(raw: str) -> list[str]:
    """`new,old,...` -> [new, old, ...]; raises ValueError for none or a short one."""
    found = [s.strip() for s in raw.split(",") if s.strip()]
    if not found:
        raise ValueError("no read-token secret given")
    for s in found:
        if len(s.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"a read-token secret must be at least {MIN_SECRET_BYTES} bytes")
    return found


def new_secret() -> str:
    return secrets.token_urlsafe(48)


class ReadTokens:
    """Issues tokens with the first secret, checks them against every secret."""

    def __init__(self, secrets_: Sequence[str], ttl_s: float) -> None:
        if not secrets_:
            raise ValueError("no read-token secret given")
        self.ttl_s = ttl_s
        self._signing = (kid(secrets_[0]), secrets_[0])
        self._verifying = {kid(s): s for s in secrets_}

    def __repr__(self) -> str:  # never the secrets
        return f"ReadTokens(kids={list(self._verifying)}, ttl_s={self.ttl_s})"

    def issue(self, scope: str, now_s: float | None = None) -> tuple[str, float]:
        """(token, its expiry in epoch ms) for `scope`."""
        now = int(time.time() if now_s is None else now_s)
        exp = now + max(1, int(self.ttl_s))
        key_id, secret = self._signing
        token = jwt.encode(
            {"scope": scope, "iat": now, "exp": exp}, secret, ALGORITHM, headers={"kid": key_id}
        )
        return token, exp * 1000.0

    def check(self, token: str) -> Grant:
        """The grant of a valid, unexpired token; raises Unauthorized otherwise."""
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise Unauthorized("not a valid read token") from None
        secret = self._verifying.get(key_id) if isinstance(key_id, str) else None
        if secret is None:
            raise Unauthorized("read token signed with a secret this server no longer holds")
        try:
            claims = jwt.decode(
                token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "scope"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("read token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("not a valid read token") from None
        scope = claims["scope"]
        if not isinstance(scope, str):
            raise Unauthorized("not a valid read token")
        return Grant(scope, float(claims["exp"]) * 1000)


def load(settings: Settings) -> ReadTokens:
    """The edge's tokens: `TOKENRELAY_READ_TOKEN_SECRETS`, else the data directory's secret
    (generated on first start, so every edge of this machine shares it). Exits on a bad one."""
    raw = settings.read_token_secrets or secretfile.read_or_create(
        Path(settings.data_dir) / SECRET_FILE, new_secret
    )
    try:
        return ReadTokens(parse_secrets(raw), settings.read_token_ttl_s)
    except ValueError as exc:
        raise SystemExit(f"tokenrelay: TOKENRELAY_READ_TOKEN_SECRETS: {exc}") from None
