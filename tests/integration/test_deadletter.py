"""Undecodable messages on <prefix>.events (what writers produce), in the middle of a live
response: the response still completes gap-free and the bad values land in <prefix>.deadletter."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import orjson
import pytest

from .kafkautil import Record, produce_raw, read_topic
from .procs import Stack, up
from .sse import (
    assert_contiguous,
    client_for,
    create_demo,
    delta_text,
    final_snapshot,
    read_all,
    read_events,
)

pytestmark = pytest.mark.integration


def carries(record: Record, payload: bytes) -> bool:
    """Whether a dead-letter record holds `payload`: raw, base64, or as a string in JSON."""
    value = record.value or b""
    if payload in value or base64.b64encode(payload) in value:
        return True
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    wanted = {payload.decode("utf-8", errors) for errors in ("replace", "backslashreplace")}
    wanted.add(payload.decode("latin-1"))
    return any(s in wanted or s.encode() == payload for s in _strings(obj))


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


async def test_undecodable_events_are_dead_lettered(stack: Stack) -> None:
    settings = stack.settings
    edge = await up(stack)
    marker = f"INJECTED-{secrets.token_hex(4)}"
    async with client_for(edge.url) as client:
        rid = await create_demo(client, tokens=2000, rate=400)
        first = await read_events(client, rid, limit=100)
        assert first.status == 200 and first.seqs == list(range(1, 101))
        garbage = b"\xff not json " + marker.encode()
        # Valid JSON, right key, but no source/seq/ts: not an event.
        partial = orjson.dumps({"rid": rid, "type": "delta", "text": marker})
        await produce_raw(settings, settings.events_topic, rid.encode(), garbage, partial)
        rest = await read_all(client, rid, last_event_id=100)
        whole = first.events + rest.events
        assert_contiguous(whole)
        snap = await final_snapshot(client, rid, whole[-1].seq)
    text = delta_text(whole)
    assert marker not in text
    assert snap["status"] == "done" and snap["sources"]["answer"] == text

    def found(records: list[Record]) -> bool:
        return all(any(carries(r, p) for r in records) for p in (garbage, partial))

    dead = await read_topic(settings, settings.deadletter_topic, until=found, timeout_s=20)
    assert found(dead), f"{settings.deadletter_topic} has {[r.value[:200] for r in dead]}"
