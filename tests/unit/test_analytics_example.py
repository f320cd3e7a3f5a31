"""The example analytics job's fold (examples/analytics_consumer.py): the readers' rule applied to
what a consumer group may deliver (copies, a late writer's records, records after the end)."""

from __future__ import annotations

from app import events
from app.events import Event
from app.ids import new_response_id
from examples.analytics_consumer import Analytics

CREATED = 1_790_000_000_000.0


def raw(rid: str, seq: int, kind: str, ts: float, **fields: object) -> bytes:
    return events.encode(Event(rid, kind, "answer", seq, ts, **fields))  # type: ignore[arg-type]


def test_per_model_tokens_and_ttft_under_the_readers_rule() -> None:
    rid = new_response_id(CREATED)
    usage = {"input_tokens": 3, "output_tokens": 2}
    stream = [
        raw(rid, 1, "delta", CREATED + 40, text="Hel"),
        raw(rid, 1, "delta", CREATED + 90, text="XX"),  # a second seq 1: the first one won
        raw(rid, 2, "delta", CREATED + 50, text="lo"),
        raw(rid, 3, "source.done", CREATED + 60, model="demo", usage=usage, duration_ms=20.0),
        raw(rid, 4, "done", CREATED + 61),
        raw(rid, 5, "error", CREATED + 99, code="producer_lost"),  # after the end: not counted
        b"not an event",
    ]
    analytics = Analytics()
    for value in stream:
        analytics.feed(value)
    report = analytics.report()
    assert report["responses"] == 1 and report["in_progress"] == 0
    assert (report["ignored"], report["undecodable"]) == (2, 1)
    assert report["models"] == {
        "demo": {
            "calls": 1,
            "input_tokens": 3,
            "output_tokens": 2,
            "chars": 5,
            "ttft_ms_p50": 40.0,
            "ttft_ms_max": 40.0,
        }
    }
