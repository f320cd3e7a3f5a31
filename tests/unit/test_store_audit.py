"""The audit log in the database, on SQLite and PostgreSQL: Store.put appends one record per new
response in its transaction (never twice), control actions once per key, concurrent appenders
keep one chain, and rows edited, deleted or swapped with SQL make verify name the bad seq."""

from __future__ import annotations

import asyncio
import io

import orjson
from sqlalchemy import text

from app import audit
from app.storage import audit as audit_db
from app.storage.audit import AuditLog
from app.storage.records import RAW, StoredResponse
from app.storage.store import Store


def response(rid: str, **changes: object) -> StoredResponse:
    base: dict[str, object] = dict(
        id=rid, status="done", partition=3, created_ms=1_700_000_000_000.25,
        first_token_ms=1_700_000_000_010.5, finished_ms=1_700_000_000_900.0,
        models={"answer": "demo"}, sources={"answer": "héllo ☃"}, usage=None, error=None,
        request={"rid": rid, "client": "127.0.0.1",
                 "calls": [{"model": "demo", "messages": [{"role": "user", "content": rid}]}]},
        views=(), last_seq=1, logs={RAW: [b'{"seq":1}']},
    )  # fmt: skip
    base.update(changes)
    return StoredResponse(**base)  # type: ignore[arg-type]


def cancel(offset: int, rid: str = "r1") -> audit.Entry:
    value = orjson.dumps({"rid": rid, "action": "cancel", "client": "1.2.3.4", "ts": 5.0 + offset})
    entry = audit.of_control(value, "p.control", 0, offset, 0.0)
    assert entry is not None
    return entry


async def sql(store: Store, statement: str, **params: object) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def test_put_appends_each_new_response_once(store: Store) -> None:
    log = AuditLog(store.engine)
    assert await log.verify() is None and await log.head() == (0, audit.GENESIS)
    await store.put([response("r1"), response("r2")])
    await store.put([response("r1", status="error"), response("r3")])  # r1 delivered again
    records = [r async for r in log.records()]
    assert [(r.seq, r.rid) for r in records] == [(1, "r1"), (2, "r2"), (3, "r3")]
    assert records[0].data == dict(audit.of_response(response("r1")).data)
    assert records[1].prev_hash == records[0].hash
    assert await log.head() == (3, records[2].hash)
    assert await log.verify() is None


async def test_control_actions_append_once_per_key(store: Store) -> None:
    log = AuditLog(store.engine)
    assert len(await log.append([cancel(1), cancel(2)])) == 2
    assert len(await log.append([cancel(2), cancel(3), cancel(3)])) == 1  # re-delivered
    assert [r.key async for r in log.records()] == [f"control:p.control/0/{i}" for i in (1, 2, 3)]
    assert await log.verify() is None


async def test_concurrent_appenders_keep_one_chain(database_url: str, store: Store) -> None:
    other = Store.connect(database_url)
    try:
        logs = [AuditLog(store.engine), AuditLog(other.engine)]
        await asyncio.gather(
            *(logs[i % 2].append([cancel(i * 10 + j) for j in range(3)]) for i in range(8)),
            *(s.put([response(f"r{i}-{s is store}")]) for i in range(5) for s in (store, other)),
        )
        records = [r async for r in logs[0].records()]
        assert [r.seq for r in records] == list(range(1, 8 * 3 + 10 + 1))
        assert await logs[1].verify() is None
    finally:
        await other.close()


async def filled(store: Store) -> AuditLog:
    await store.put([response(f"r{i}") for i in range(1, 6)])
    log = AuditLog(store.engine)
    assert await log.verify() is None
    return log


async def test_an_edited_row_fails_verify_at_its_seq(store: Store) -> None:
    log = await filled(store)
    await sql(store, "UPDATE audit_log SET rid = 'someone-else' WHERE seq = 3")
    bad = await log.verify()
    assert bad is not None and bad[0] == 3 and "edited" in bad[1]


async def test_an_edited_json_field_fails_verify(store: Store) -> None:
    log = await filled(store)
    row = [r async for r in log.records()][1]
    data = orjson.dumps({**row.data, "status": "error"}).decode()
    await sql(store, "UPDATE audit_log SET data = :data WHERE seq = 2", data=data)
    bad = await log.verify()
    assert bad is not None and bad[0] == 2


async def test_a_deleted_row_fails_verify(store: Store) -> None:
    log = await filled(store)
    await sql(store, "DELETE FROM audit_log WHERE seq = 4")
    assert (await log.verify() or (0,))[0] == 4
    await sql(store, "DELETE FROM audit_log WHERE seq = 5")  # now the last one too
    assert (await log.verify() or (0,))[0] == 4


async def test_a_deleted_last_row_fails_verify(store: Store) -> None:
    log = await filled(store)
    await sql(store, "DELETE FROM audit_log WHERE seq = 5")
    bad = await log.verify()
    assert bad is not None and bad[0] == 5 and "missing" in bad[1]


async def test_two_swapped_rows_fail_verify(store: Store) -> None:
    log = await filled(store)
    await sql(store, "UPDATE audit_log SET seq = -2 WHERE seq = 2")
    await sql(store, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    await sql(store, "UPDATE audit_log SET seq = 3 WHERE seq = -2")
    bad = await log.verify()
    assert bad is not None and bad[0] == 2


async def test_cli_verify_and_export(database_url: str, store: Store) -> None:
    await filled(store)
    out = io.StringIO()
    assert await audit_db.run_verify(database_url, out) == 0 and "5 records" in out.getvalue()
    buf = io.BytesIO()
    assert await audit_db.run_export(database_url, None, None, buf) == 0
    lines = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    await AuditLog(store.engine).append([cancel(1), cancel(2)])  # at 6.0 and 7.0
    buf = io.BytesIO()
    await audit_db.run_export(database_url, 6.5, 1000.0, buf)  # responses are at 1.7e12
    assert [orjson.loads(x)["key"] for x in buf.getvalue().splitlines()] == [
        "control:p.control/0/2"
    ]
    buf = io.BytesIO()
    await audit_db.run_export(database_url, 0, 6.5, buf)
    assert [orjson.loads(x)["seq"] for x in buf.getvalue().splitlines()] == [6]
    await sql(store, "UPDATE audit_log SET at_ms = 1 WHERE seq = 7")
    out = io.StringIO()
    assert await audit_db.run_verify(database_url, out) == 1
    assert "seq 7" in out.getvalue()
