"""What a complete response is stored as: `record(...)` folds the events the persist agent read
(the readers' rule already applied) into a StoredResponse. Pure: no Kafka, no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import events
from app.contract.index import IndexRecord
from app.events import Event
from app.storage.records import RAW, StoredResponse


@dataclass(slots=True)
class Read:
    """One response's events as found in Kafka: (event, exact value) per stream, in seq order."""

    streams: dict[str, list[tuple[Event, bytes]]] = field(default_factory=dict)
    request: dict[str, Any] | None = None
    gone: bool = False  # Kafka had deleted records where its events began


def record(index: IndexRecord, read: Read, stored_ms: float) -> StoredResponse:
    raw = read.streams.get(RAW, [])
    sources: dict[str, list[str]] = {}
    models: dict[str, str] = {}
    usage: dict[str, Any] = {}
    first_token = finished = error = None
    for call in (read.request or {}).get("calls", []):
        if isinstance(call, dict) and isinstance(call.get("model"), str):
            models[str(call.get("source", "answer"))] = call["model"]
    for event, value in raw:
        if event.text is not None:
            sources.setdefault(event.source, []).append(event.text)
            if first_token is None and event.type == events.DELTA:
                first_token = event.ts
        if event.type == events.SOURCE_DONE:
            _accounting(event.source, value, models, usage)
        if event.terminal:
            finished = event.ts
            if event.type == events.ERROR:
                error = {"code": event.code, "message": event.message,
                         "retriable": event.retriable, "status": event.status}  # fmt: skip
    status = raw[-1][0].type if raw and raw[-1][0].terminal else index.state
    missing = _missing(index, read)
    return StoredResponse(
        id=index.rid,
        status=status,
        partition=index.partition,
        created_ms=index.created,
        first_token_ms=first_token,
        finished_ms=finished,
        models=models,
        request=read.request,
        sources={s: "".join(parts) for s, parts in sources.items()},
        usage=usage or None,
        error=error,
        views=index.views,
        last_seq=raw[-1][0].seq if raw else 0,
        complete=missing is None,
        missing=missing,
        stored_ms=stored_ms,
        logs={name: [v for _, v in got] for name, got in read.streams.items()},
    )


def _accounting(source: str, value: bytes, models: dict[str, str], usage: dict[str, Any]) -> None:
    # Read from the value itself: `model` and `usage` on source.done are optional fields a
    # writer may or may not set, and the stored log keeps them whatever Event decodes.
    obj = orjson.loads(value)
    if isinstance(obj.get("model"), str):
        models[source] = obj["model"]
    if obj.get("usage") is not None:
        usage[source] = obj["usage"]


def _missing(index: IndexRecord, read: Read) -> str | None:
    """What a reader of the stored streams would miss, or None when every stream runs from seq 1
    to its terminal event without a gap."""
    wanted = (RAW, *index.views)
    for name in wanted:
        got = read.streams.get(name)
        label = "events" if name == RAW else f"view {name}"
        if not got:
            return f"{label}: none found" + (" (deleted from Kafka)" if read.gone else "")
        if not _contiguous([e.seq for e, _ in got]):
            return f"{label}: a gap before seq {_gap([e.seq for e, _ in got])}"
        if not got[-1][0].terminal:
            return f"{label}: no terminal event after seq {got[-1][0].seq}"
    return None


def _contiguous(seqs: Sequence[int]) -> bool:
    return bool(seqs) and seqs[0] == 1 and seqs[-1] == len(seqs)


def _gap(seqs: Sequence[int]) -> int:
    expect = 1
    for seq in seqs:
        if seq != expect:
            return seq
        expect += 1
    return expect


def views_done(index: IndexRecord, streams: Mapping[str, list[tuple[Event, bytes]]]) -> bool:
    """Whether every view of the response has reached its terminal event."""
    return all(streams.get(v) and streams[v][-1][0].terminal for v in index.views)
