"""API keys without a database (app/auth/keys.py), secret files, the edge's key cache
(app/edge/keycache.py) and its per-key in-progress slots (app/edge/inflight.py)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from app.auth import keys, secretfile
from app.auth.keys import Key
from app.edge.inflight import STRAY_S, Slots
from app.edge.keycache import KeyCache
from app.errors import TooManyResponses


def test_keys_are_random_prefixed_and_stored_as_digests() -> None:
    made = {keys.new_key() for _ in range(100)}
    assert len(made) == 100
    key = made.pop()
    assert key.startswith("trk_") and len(key) == 4 + 43 and keys.plausible(key)
    assert keys.digest(key) == keys.digest(key) and len(keys.digest(key)) == 64
    assert key not in keys.digest(key)
    assert not keys.plausible("eyJhbGciOiJIUzI1NiJ9.x.y")  # a read token
    assert not keys.plausible("trk_" + "a" * 200)
    assert keys.new_id() != keys.new_id()


def test_a_key_shows_no_secret() -> None:
    k = Key("key_1", "alice", 1.0)
    assert not k.revoked and Key("key_1", "alice", 1.0, 2.0).revoked
    assert "trk_" not in repr(k)


def test_secret_files_are_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "d" / "s"
    first = secretfile.read_or_create(path, lambda: "one")
    assert first == "one" and secretfile.read_or_create(path, lambda: "two") == "one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secretfile.write(path, "three")
    assert secretfile.read(path) == "three" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secretfile.read(tmp_path / "missing") is None
    assert [p.name for p in path.parent.iterdir()] == ["s"]  # no temporary file left


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_key_cache_trusts_an_answer_for_its_ttl() -> None:
    db = {"d1": Key("key_1", "alice", 1.0)}
    asked: list[str] = []

    async def lookup(digest: str) -> Key | None:
        asked.append(digest)
        await asyncio.sleep(0.01)
        return db.get(digest)

    clock = Clock()
    cache = KeyCache(lookup, ttl_s=5, size=2, clock=clock)
    got = await asyncio.gather(*(cache.get("d1") for _ in range(10)))
    assert all(k is not None and k.name == "alice" for k in got) and asked == ["d1"]
    db["d1"] = Key("key_1", "alice", 1.0, revoked_ms=2.0)  # revoked in the database
    clock.now += 4.9
    cached = await cache.get("d1")
    assert cached is not None and not cached.revoked  # still trusted within the TTL
    clock.now += 0.2
    fresh = await cache.get("d1")
    assert fresh is not None and fresh.revoked and asked == ["d1", "d1"]
    assert await cache.get("unknown") is None and await cache.get("unknown") is None
    assert asked.count("unknown") == 1  # an unknown key is remembered too
    await cache.get("d3")
    assert len(cache) == 2  # bounded: the least recently used left


async def test_key_cache_does_not_remember_a_failure() -> None:
    calls = 0

    async def lookup(digest: str) -> Key | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database down")
        return None

    cache = KeyCache(lookup, ttl_s=5)
    with pytest.raises(OSError):
        await cache.get("d")
    assert await cache.get("d") is None and calls == 2


def test_slots_count_responses_until_they_end() -> None:
    state: dict[str, bool | None] = {}
    clock = Clock()
    slots = Slots(2, lambda rid: state.get(rid), clock=clock)
    a = slots.take("k1")
    b = slots.take("k1")
    with pytest.raises(TooManyResponses) as info:
        slots.take("k1")
    assert info.value.status == 429 and info.value.retry_after >= 1
    slots.take("k2")  # other keys are unaffected
    slots.drop(b)  # a POST that failed gives its slot back
    b = slots.take("k1")
    slots.bind(a, "r1")
    slots.bind(b, "r2")
    state["r1"] = False  # in progress
    assert slots.count("k1") == 2
    state["r1"] = True  # its terminal event came
    assert slots.count("k1") == 1
    slots.take("k1")  # unbound: a POST under way counts
    assert slots.count("k1") == 2
    clock.now += STRAY_S + 1  # r2 never reached this edge
    assert slots.count("k1") == 1
