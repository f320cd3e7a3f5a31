"""Read tokens (app/auth/tokens.py): signed scope and expiry, rotation by kid, the secrets'
sources (the environment, else a generated 0600 file in the data dir)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from app.auth import tokens
from app.auth.tokens import ReadTokens, conversation_scope, response_scope
from app.errors import Unauthorized
from app.settings import Settings

OLD = "o" * 40
NEW = "n" * 40


def test_a_token_carries_its_scope_and_expiry() -> None:
    t = ReadTokens([NEW], ttl_s=60)
    token, expires_ms = t.issue(response_scope("r1"), now_s=1_000_000_000)
    assert expires_ms == 1_000_000_060_000
    fresh, _ = t.issue(response_scope("r1"))
    grant = t.check(fresh)
    assert grant.scope == "response:r1" and grant.expires_ms > time.time() * 1000
    assert jwt.get_unverified_header(token)["kid"] == tokens.kid(NEW)
    claims = jwt.decode(fresh, NEW, algorithms=["HS256"])
    assert set(claims) == {"scope", "iat", "exp"}


def test_conversation_and_response_scopes_never_meet() -> None:
    # A conversation may be named by its first response's id: the scopes stay apart.
    assert conversation_scope("r1") != response_scope("r1")


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "a.b.c", jwt.encode({"scope": "response:r1", "exp": 2**40}, "x" * 40)],
)
def test_garbage_and_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        ReadTokens([NEW], 60).check(token)


def test_expired_and_tampered_tokens_are_refused() -> None:
    t = ReadTokens([NEW], ttl_s=1)
    old, _ = t.issue(response_scope("r1"), now_s=time.time() - 10)
    with pytest.raises(Unauthorized, match="expired") as info:
        t.check(old)
    assert info.value.status == 401 and "invalid_token" in info.value.headers["WWW-Authenticate"]
    good, _ = t.issue(response_scope("r1"))
    head, body, sig = good.split(".")
    forged = jwt.encode({"scope": "response:r2", "exp": 2**40}, "f" * 40, headers={"kid": "x"})
    with pytest.raises(Unauthorized):
        t.check(".".join([head, forged.split(".")[1], sig]))
    with pytest.raises(Unauthorized):  # no exp: never valid
        t.check(jwt.encode({"scope": "response:r1"}, NEW, headers={"kid": tokens.kid(NEW)}))


def test_rotation_first_signs_all_verify() -> None:
    before, _ = ReadTokens([OLD], 60).issue(response_scope("r1"))
    both = ReadTokens([NEW, OLD], 60)
    assert both.check(before).scope == "response:r1"
    after, _ = both.issue(response_scope("r1"))
    assert jwt.get_unverified_header(after)["kid"] == tokens.kid(NEW)
    with pytest.raises(Unauthorized, match="no longer holds"):
        ReadTokens([NEW], 60).check(before)


def test_secrets_are_checked_and_kept_out_of_repr() -> None:
    assert tokens.parse_secrets(f" {NEW} , {OLD},") == [NEW, OLD]
    for bad in ("", " , ", "short", f"{NEW},short"):
        with pytest.raises(ValueError):
            tokens.parse_secrets(bad)
    assert NEW not in repr(ReadTokens([NEW], 60))
    assert NEW not in repr(Settings(read_token_secrets=NEW))


def test_generated_secret_is_shared_and_private(tmp_path: Path) -> None:
    s = Settings(data_dir=str(tmp_path / "data"))
    a, b = tokens.load(s), tokens.load(s)
    token, _ = a.issue(response_scope("r1"))
    assert b.check(token).scope == "response:r1"  # a second edge on this machine
    path = tmp_path / "data" / tokens.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    explicit = tokens.load(Settings(data_dir=str(tmp_path / "data"), read_token_secrets=NEW))
    with pytest.raises(Unauthorized):
        explicit.check(token)  # the environment's secrets win over the file
    with pytest.raises(SystemExit, match="at least 32 bytes"):
        tokens.load(Settings(read_token_secrets="short"))
