"""The audit log on real Kafka, worker and edge processes, on SQLite and PostgreSQL: a few demo
responses and cancels produce one chained record each, with the client address (the peer, or
X-Forwarded-For behind a trusted proxy), the input's and output's digests and the status;
`tokenrelay audit verify` exits 0, and non-zero naming the seq once a row is edited with SQL;
`tokenrelay audit export --since` writes the expected JSON lines.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import text

from app.audit import Record
from app.storage.audit import AuditLog
from app.storage.store import Store

from .conftest import on_database
from .procs import REPO, Stack, settings_env, up
from .sse import client_for, create_demo, final_snapshot, read_all, read_events

pytestmark = pytest.mark.integration


@pytest.fixture
async def db_stack(stack: Stack, database_url: str) -> AsyncIterator[tuple[Stack, Store]]:
    async with on_database(stack, database_url, edge_trusted_proxies="127.0.0.1") as store:
        yield stack, store


async def chain(store: Store, want: int, timeout_s: float = 30.0) -> list[Record]:
    """The audit records once there are `want` of them."""
    deadline = time.monotonic() + timeout_s
    found: list[Record] = []
    while time.monotonic() < deadline:
        try:
            found = [r async for r in AuditLog(store.engine).records()]
        except Exception:  # the SQLite file or its tables may not exist before the migration
            found = []
        if len(found) >= want:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(found)} audit records, not {want}, within {timeout_s} s")


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", *args], cwd=REPO, capture_output=True,
        text=True, env=settings_env(stack.settings), timeout=60,
    )  # fmt: skip


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


async def test_audit_records_verify_and_export(db_stack: tuple[Stack, Store]) -> None:
    stack, store = db_stack
    edge = await up(stack)
    async with client_for(edge.url) as c:
        plain = await create_demo(c, tokens=20, rate=400, prompt="First question.")
        c.headers["X-Forwarded-For"] = "198.51.100.1, 203.0.113.9"  # via 127.0.0.1, trusted
        proxied = await create_demo(c, tokens=20, rate=400, prompt="Second question.")
        long = await create_demo(c, tokens=5000, rate=200)
        assert (await read_events(c, long, limit=20)).status == 200
        resp = await c.post(f"/v1/responses/{long}/cancel")
        assert resp.status_code == 202, resp.text
        del c.headers["X-Forwarded-For"]
        snaps = {}
        for rid in (plain, proxied, long):
            whole = await read_all(c, rid, timeout_s=30)
            snaps[rid] = await final_snapshot(c, rid, whole.events[-1].seq)
        again = await c.post(f"/v1/responses/{plain}/cancel")  # already over
        assert again.status_code == 200 and again.json()["cancelled"] is False

    records = await chain(store, 5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    by_key = {r.key: r for r in records}
    assert len(by_key) == 5
    clients = {plain: "127.0.0.1", proxied: "203.0.113.9", long: "203.0.113.9"}
    for rid, snap in snaps.items():
        r = by_key[f"response:{rid}"]
        row = await store.get(rid)
        assert row is not None and row.request is not None
        messages = [call["messages"] for call in row.request["calls"]]
        assert r.kind == "response" and r.rid == rid
        assert r.data["client"] == clients[rid]
        assert r.data["models"] == {"answer": "demo"}
        assert r.data["input_sha256"] == sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS))
        assert r.data["output_sha256"] == {s: sha256(t) for s, t in snap["sources"].items()}
        assert r.data["status"] == snap["status"] and r.data["error_code"] is None
        assert r.data["created_ms"] == row.created_ms and r.at_ms == row.finished_ms
    assert by_key[f"response:{long}"].data["status"] == "cancelled"
    # The two cancels are keyed to their responses' control partitions: the chain holds them
    # in the order the persist consumer got them, which across partitions is not the order sent.
    cancels = {r.rid: r.data for r in records if r.kind == "cancel"}
    # No API key on this edge (auth off): nobody to name beside the address.
    assert cancels == {
        long: {"client": "203.0.113.9", "in_flight": True, "who": None, "key_id": None},
        plain: {"client": "127.0.0.1", "in_flight": False, "who": None, "key_id": None},
    }

    done = cli(stack, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 records" in done.stdout

    # Export: from the second cancel's time on (epoch ms, and the same as an ISO time).
    later = next(r for r in records if r.kind == "cancel" and r.rid == plain)
    since = later.at_ms
    want = [r.seq for r in records if r.at_ms >= since]
    exported = cli(stack, "export", "--since", repr(since))
    assert exported.returncode == 0, exported.stderr
    lines = [orjson.loads(line) for line in exported.stdout.splitlines()]
    assert [line["seq"] for line in lines] == want and later.seq in want
    assert lines[-1]["hash"] == records[want[-1] - 1].hash
    iso = datetime.fromtimestamp((since - 1) / 1000, UTC).isoformat()  # µs: not past `since`
    assert cli(stack, "export", "--since", iso).stdout == exported.stdout
    everything = cli(stack, "export", "--since", "0").stdout.splitlines()
    assert [orjson.loads(x)["seq"] for x in everything] == [1, 2, 3, 4, 5]

    # Tampering: a record's status edited in place.
    seq = by_key[f"response:{long}"].seq
    async with store.engine.begin() as conn:
        data = orjson.dumps({**by_key[f"response:{long}"].data, "status": "done"}).decode()
        await conn.execute(text("UPDATE audit_log SET data = :d WHERE seq = :s"),
                           {"d": data, "s": seq})  # fmt: skip
    broken = cli(stack, "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"seq {seq}" in broken.stdout
