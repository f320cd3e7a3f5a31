"""The audit log's records and chain without a database: hashing, the verifier's verdicts on an
edited, deleted, inserted or swapped record, the response and cancel entries, `--since` times,
and the client address behind trusted proxies."""

from __future__ import annotations

import dataclasses
import hashlib

import orjson
import pytest
from starlette.requests import Request

from app import audit, events
from app.audit import GENESIS, Entry, Record
from app.edge import client
from app.storage.records import RAW, StoredResponse


def chained(n: int) -> list[Record]:
    records, prev = [], GENESIS
    for i in range(1, n + 1):
        r = audit.chain(Entry("response", f"response:r{i}", f"r{i}", 1000.0 * i, {"i": i}),
                        i, prev, 5000.0 + i)  # fmt: skip
        records.append(r)
        prev = r.hash
    return records


def head(records: list[Record]) -> tuple[int, str]:
    return (records[-1].seq, records[-1].hash) if records else (0, GENESIS)


def test_hash_is_sha256_of_prev_hash_and_canonical_fields() -> None:
    r = chained(1)[0]
    fields = {"at_ms": 1000.0, "data": {"i": 1}, "key": "response:r1", "kind": "response",
              "recorded_ms": 5001.0, "rid": "r1", "seq": 1}  # fmt: skip
    want = hashlib.sha256(GENESIS.encode() + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))
    assert r.prev_hash == GENESIS and r.hash == want.hexdigest()
    assert orjson.loads(r.to_json()) == {**fields, "prev_hash": GENESIS, "hash": r.hash}


def test_an_intact_chain_verifies() -> None:
    records = chained(5)
    assert audit.verify(records, head(records)) is None
    assert audit.verify([], (0, GENESIS)) is None


def test_an_edited_field_fails_at_its_seq() -> None:
    records = chained(5)
    records[2] = dataclasses.replace(records[2], data={"i": 99})
    bad = audit.verify(records, head(records))
    assert bad is not None and bad[0] == 3 and "edited" in bad[1]
    # Re-hashing the edited record does not help: the next one's prev_hash no longer matches.
    records[2] = audit.chain(Entry("response", "response:r3", "r3", 3000.0, {"i": 99}), 3,
                             records[1].hash, 5003.0)  # fmt: skip
    bad = audit.verify(records, head(records))
    assert bad is not None and bad[0] == 4 and "prev_hash" in bad[1]


def test_deleted_inserted_swapped_and_truncated_records_fail() -> None:
    records = chained(5)
    bad = audit.verify(records[:2] + records[3:], head(records))
    assert bad is not None and bad[0] == 3 and "missing" in bad[1]
    swapped = records[:1] + [dataclasses.replace(records[2], seq=2),
                             dataclasses.replace(records[1], seq=3)] + records[3:]  # fmt: skip
    bad = audit.verify(swapped, head(records))
    assert bad is not None and bad[0] == 2
    extra = audit.chain(Entry("cancel", "x", "r9", 1.0, {}), 6, records[-1].hash, 1.0)
    bad = audit.verify([*records, extra], head(records))
    assert bad is not None and bad[0] == 6 and "head" in bad[1]
    bad = audit.verify(records[:4], head(records))  # the last one deleted
    assert bad is not None and bad[0] == 5


def stored(**changes: object) -> StoredResponse:
    base: dict[str, object] = dict(
        id="r1", status="done", partition=0, created_ms=1000.5, first_token_ms=1001.0,
        finished_ms=2000.25, models={"a": "demo"}, sources={"a": "héllo", "b": ""},
        request={"rid": "r1", "client": "10.0.0.7", "who": "alice", "key_id": "key_1",
                 "calls": [{"source": "a", "model": "demo", "messages": [{"role": "user",
                                                                           "content": "hi"}]}]},
        usage=None, error=None, views=(), last_seq=4,
    )  # fmt: skip
    base.update(changes)
    return StoredResponse(**base)  # type: ignore[arg-type]


def test_response_entry_tells_who_what_and_digests() -> None:
    e = audit.of_response(stored())
    assert (e.kind, e.key, e.rid, e.at_ms) == ("response", "response:r1", "r1", 2000.25)
    messages = [[{"content": "hi", "role": "user"}]]
    assert e.data == {
        "created_ms": 1000.5, "finished_ms": 2000.25, "client": "10.0.0.7",
        "who": "alice", "key_id": "key_1", "models": {"a": "demo"},
        "input_sha256": hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS))
        .hexdigest(),
        "output_sha256": {"a": hashlib.sha256("héllo".encode()).hexdigest(),
                          "b": hashlib.sha256(b"").hexdigest()},
        "status": "done", "error_code": None, "moderation": None, "cached_from": None,
        "complete": True,
    }  # fmt: skip
    sdk = audit.of_response(stored(request=None, status="error", error={"code": "x"}))
    assert sdk.data["input_sha256"] is None and sdk.data["client"] is None
    assert sdk.data["who"] is None and sdk.data["key_id"] is None
    assert sdk.data["error_code"] == "x"


def test_moderation_is_what_the_stored_view_shows() -> None:
    def ev(seq: int, type_: str, **kw: object) -> bytes:
        return events.encode(events.Event(rid="r1", type=type_, seq=seq, ts=1.0, **kw))  # type: ignore[arg-type]

    view = [ev(1, "delta", text="a [redacted] b [redacted]"), ev(2, "delta", text="[redacted]"),
            ev(3, "error", code="moderated", message="blocked", retriable=False)]  # fmt: skip
    r = stored(views=("moderated",), logs={RAW: [], "moderated": view})
    assert audit.of_response(r).data["moderation"] == {"blocked": True, "redactions": 3}
    clean = stored(views=("moderated",), logs={"moderated": [ev(1, "done")]})
    assert audit.of_response(clean).data["moderation"] == {"blocked": False, "redactions": 0}


def test_control_entries() -> None:
    value = orjson.dumps({"rid": "r1", "action": "cancel", "client": "1.2.3.4", "ts": 7.5,
                          "in_flight": False, "who": "ops", "key_id": "key_2"})  # fmt: skip
    e = audit.of_control(value, "p.control", 2, 41, 9.0)
    assert e == Entry("cancel", "control:p.control/2/41", "r1", 7.5,
                      {"client": "1.2.3.4", "in_flight": False, "who": "ops",
                       "key_id": "key_2"})  # fmt: skip
    old = audit.of_control(b'{"rid":"r1","action":"cancel"}', "t", 0, 1, 9.0)
    assert old is not None and old.at_ms == 9.0 and old.data["in_flight"] is True
    assert old.data["who"] is None  # an edge without keys (or before them) names no one
    assert audit.of_control(b"junk", "t", 0, 1, 0) is None
    assert audit.of_control(b'{"rid":"r","action":"other"}', "t", 0, 1, 0) is None


def test_parse_time() -> None:
    assert audit.parse_time("1700000000000") == 1_700_000_000_000
    assert audit.parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert audit.parse_time("2023-11-14T22:13:20") == 1_700_000_000_000
    assert audit.parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000_000
    with pytest.raises(ValueError):
        audit.parse_time("yesterday")


def req(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


def test_client_address() -> None:
    none = client.trusted("")
    assert client.address(req("10.0.0.1", "6.6.6.6"), none) == "10.0.0.1"  # not trusted
    proxies = client.trusted("10.0.0.1, 10.0.0.2")
    assert client.address(req("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2"), proxies) == "1.2.3.4"
    assert client.address(req("9.9.9.9", "1.2.3.4"), proxies) == "9.9.9.9"  # peer not a proxy
    assert client.address(req("10.0.0.1"), proxies) == "10.0.0.1"  # no header
    assert client.address(req("10.0.0.1", "1.2.3.4, 10.0.0.2"), client.trusted("*")) == "1.2.3.4"
