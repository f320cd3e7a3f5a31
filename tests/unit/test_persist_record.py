"""The persist agent's pure half: what a response's events are stored as, and which index
records it acts on."""

from __future__ import annotations

import orjson

from agents.persist import terminal_records
from agents.recording import Read, record, views_done
from app import events
from app.contract.index import IndexRecord
from app.events import Event
from app.storage.records import RAW

RID = "r1"


def index_record(state: str = "done", views: tuple[str, ...] = ()) -> IndexRecord:
    return IndexRecord(RID, state, partition=2, created=1000.0, ts=2000.0, seq=5, first=10,
                       last=14, views=views)  # fmt: skip


def read_of(*evs: Event, request: dict[str, object] | None = None) -> Read:
    # A source.done's model and usage as another writer may add them: raw JSON fields.
    out = []
    for e in evs:
        value = events.encode(e)
        if e.type == events.SOURCE_DONE:
            obj = orjson.loads(value)
            obj.update(model="gpt-x", usage={"input_tokens": 3, "output_tokens": 2})
            value = orjson.dumps(obj)
        out.append((e, value))
    return Read(streams={RAW: out}, request=request)


def ev(seq: int, type: str, text: str | None = None, source: str = "answer", **kw: object) -> Event:
    return Event(RID, type, source, seq, 1000.0 + seq, text, **kw)  # type: ignore[arg-type]


def test_a_complete_response() -> None:
    request = {"rid": RID, "calls": [{"source": "answer", "model": "demo"}]}
    read = read_of(
        ev(1, "delta", "Hel"), ev(2, "delta", "lo"), ev(3, "source.done"), ev(4, "done"),
        request=request,
    )  # fmt: skip
    stored = record(index_record(), read, stored_ms=9.0)
    assert stored.status == "done" and stored.complete and stored.missing is None
    assert stored.sources == {"answer": "Hello"}
    assert stored.models == {"answer": "gpt-x"}  # the call's own report wins over the request's
    assert stored.usage == {"answer": {"input_tokens": 3, "output_tokens": 2}}
    assert (stored.first_token_ms, stored.finished_ms, stored.last_seq) == (1001.0, 1004.0, 4)
    assert stored.request == request and stored.request_hash is not None
    assert stored.logs[RAW] == [v for _, v in read.streams[RAW]]


def test_an_error_and_an_sdk_response_without_request() -> None:
    read = read_of(ev(1, "delta", "x"), ev(2, "error", retriable=True, code="producer_lost",
                                           message="gone"))  # fmt: skip
    stored = record(index_record("error"), read, stored_ms=9.0)
    assert stored.status == "error" and stored.request is None and stored.models == {}
    assert stored.error == {"code": "producer_lost", "message": "gone", "retriable": True,
                            "status": None}  # fmt: skip


def test_events_gone_from_kafka_are_flagged() -> None:
    gone = Read(gone=True)
    stored = record(index_record(), gone, stored_ms=9.0)
    assert not stored.complete and "deleted" in (stored.missing or "")
    assert stored.status == "done" and stored.logs == {}
    trimmed = record(index_record(), read_of(ev(3, "delta", "x"), ev(4, "done")), 9.0)
    assert not trimmed.complete and trimmed.missing == "events: a gap before seq 3"
    unfinished = record(index_record(), read_of(ev(1, "delta", "x")), 9.0)
    assert unfinished.missing == "events: no terminal event after seq 1"


def test_views_are_stored_and_a_missing_one_flagged() -> None:
    read = read_of(ev(1, "delta", "Hi."), ev(2, "done"))
    idx = index_record(views=("sentences",))
    assert not views_done(idx, read.streams)
    assert record(idx, read, 9.0).missing == "view sentences: none found"
    read.streams["sentences"] = [(ev(1, "sentence", "Hi."), b"s1"), (ev(2, "done"), b"s2")]
    assert views_done(idx, read.streams)
    stored = record(idx, read, 9.0)
    assert stored.complete and stored.logs["sentences"] == [b"s1", b"s2"]


def test_terminal_records_one_per_response_undecodable_skipped() -> None:
    def rec(rid: str, state: str, seq: int) -> bytes:
        return IndexRecord(rid, state, 0, 1.0, 2.0, seq).encode()

    values = [rec("a", "open", 0), b"not json", None, rec("a", "done", 3), rec("b", "beat", 1),
              rec("c", "error", 2), rec("a", "done", 3)]  # fmt: skip
    assert [(r.rid, r.state) for r in terminal_records(values)] == [("c", "error"), ("a", "done")]
