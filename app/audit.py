"""The audit log's records and their hash chain (docs/audit.md), without a database.

One record per stored response and one per control action (a cancel). Each carries `seq`,
`prev_hash` and `hash` = sha256(prev_hash + canonical JSON of its fields), so an edited, deleted,
inserted or reordered record breaks the chain from that seq on; `verify` walks it and names the
first bad seq. The fields are what the stored response or control record tells; nothing here is
secret (the input and output are digests), so an export can leave the database.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app import events
from app.contract import control
from app.errors import DecodeError
from app.storage.records import StoredResponse

GENESIS = "0" * 64  # the prev_hash of seq 1
REDACTED = "[redacted]"  # what the moderated view writes in place of a redacted match
MODERATED = "moderated"  # the view, and the error code it ends with when a block rule matched


@dataclass(frozen=True, slots=True)
class Entry:
    """A record before it is chained: `key` is unique per audited thing (a response, a control
    record's topic/partition/offset), so an entry appended twice is appended once."""

    kind: str  # response, cancel
    key: str
    rid: str
    at_ms: float  # when it happened: a response's end (its creation if it has none), a cancel
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    kind: str
    key: str
    rid: str
    at_ms: float
    recorded_ms: float  # when it was appended
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    def fields(self) -> dict[str, Any]:
        """What the hash covers: every column but the two hashes."""
        return {
            "seq": self.seq, "kind": self.kind, "key": self.key, "rid": self.rid,
            "at_ms": self.at_ms, "recorded_ms": self.recorded_ms, "data": dict(self.data),
        }  # fmt: skip

    def to_json(self) -> bytes:
        """One line of `tokenrelay audit export`."""
        return canonical({**self.fields(), "prev_hash": self.prev_hash, "hash": self.hash})


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace: equal values give equal bytes, whatever their key order."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return sha256(prev_hash.encode() + canonical(fields))


def chain(entry: Entry, seq: int, prev_hash: str, recorded_ms: float) -> Record:
    """`entry` as the record after the one whose hash is `prev_hash`."""
    draft = Record(
        seq, entry.kind, entry.key, entry.rid, entry.at_ms, recorded_ms, entry.data, prev_hash, ""
    )
    return dataclasses.replace(draft, hash=chain_hash(prev_hash, draft.fields()))


class Verifier:
    """Walks the chain one record at a time, in seq order (a long chain never sits in memory)."""

    def __init__(self) -> None:
        self.seq, self.prev = 0, GENESIS  # the last good record's

    def check(self, r: Record) -> tuple[int, str] | None:
        """None when `r` follows the records checked so far; else the first bad seq and why."""
        expected = self.seq + 1
        if r.seq != expected:
            why = "missing" if r.seq > expected else "duplicated or out of order"
            return expected, f"record {expected} is {why} (seq {r.seq} comes next)"
        if r.prev_hash != self.prev:
            return r.seq, "prev_hash is not the previous record's hash (deleted, inserted or moved)"
        if chain_hash(self.prev, r.fields()) != r.hash:
            return r.seq, "hash does not match the record's fields (edited)"
        self.seq, self.prev = r.seq, r.hash
        return None

    def end(self, head: tuple[int, str]) -> tuple[int, str] | None:
        """After the last record: it must be the head (the stored seq and hash of the last
        record appended), or the chain was cut short or extended behind the log's back."""
        seq, hash_ = head
        if (self.seq, self.prev) == (seq, hash_):
            return None
        if seq > self.seq:
            return self.seq + 1, f"missing: the chain ends at seq {self.seq}, its head is {seq}"
        if seq < self.seq:
            return seq + 1, f"records after the head (seq {seq}) were not appended by the log"
        return seq, "the head's hash is not the last record's"


def verify(records: Iterable[Record], head: tuple[int, str]) -> tuple[int, str] | None:
    """None when the chain holds, else (first bad seq, why)."""
    walk = Verifier()
    for r in records:
        if (bad := walk.check(r)) is not None:
            return bad
    return walk.end(head)


def parse_time(value: str) -> float:
    """Epoch milliseconds from `--since`/`--until`: a number (epoch ms) or an ISO 8601 time
    (UTC when it names no zone)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither epoch milliseconds nor an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() * 1000


def of_response(r: StoredResponse) -> Entry:
    """A stored response's record: when, who, which models, the input's and output's digests,
    how it ended, what moderation did."""
    request = r.request or {}
    calls = request.get("calls") or []
    data: dict[str, Any] = {
        "created_ms": r.created_ms,
        "finished_ms": r.finished_ms,
        "client": request.get("client"),  # the edge's view of the caller (app/edge/client.py)
        # The API key's name and id (app/edge/access.py); None when the edge ran without auth.
        "who": request.get("who"),
        "key_id": request.get("key_id"),
        "models": dict(r.models),
        # The calls' messages (or input) in order, canonical JSON; null for an SDK response.
        "input_sha256": (
            sha256(canonical([c.get("messages", c.get("input")) for c in calls]))
            if r.request is not None
            else None
        ),  # fmt: skip
        "output_sha256": {source: sha256(text) for source, text in r.sources.items()},
        "status": r.status,
        "error_code": (r.error or {}).get("code"),
        "moderation": moderation(r),
        "cached_from": r.cached_from,
        "complete": r.complete,
    }
    return Entry("response", f"response:{r.id}", r.id, r.finished_ms or r.created_ms, data)


def moderation(r: StoredResponse) -> dict[str, Any] | None:
    """What the stored `moderated` view shows: blocked (it ended with error `moderated`) and
    how many matches it redacted; None when the response did not ask for the view."""
    if MODERATED not in r.views:
        return None
    values = r.logs.get(MODERATED)
    if values is None:  # read back without its logs: the view's outcome is not known here
        return {"blocked": None, "redactions": None}
    blocked, redactions = False, 0
    for value in values:
        try:
            event = events.decode(value)
        except DecodeError:
            continue
        redactions += (event.text or "").count(REDACTED)
        blocked = blocked or (event.type == "error" and event.code == MODERATED)
    return {"blocked": blocked, "redactions": redactions}


def of_control(value: bytes | None, topic: str, partition: int, offset: int,
               timestamp_ms: float) -> Entry | None:  # fmt: skip
    """A control record's audit entry (None: not an action, or undecodable). Its key is the
    record's place in the log, so a re-delivered record is appended once."""
    try:
        record = control.decode(value)
    except DecodeError:
        return None
    if record.action != control.CANCEL:
        return None
    data = {
        "client": record.client,
        "who": record.who,
        "key_id": record.key_id,
        "in_flight": record.in_flight,  # edges before the field sent none: True
    }
    at_ms = record.ts if record.ts is not None else float(timestamp_ms)
    where = f"control:{topic}/{partition}/{offset}"
    return Entry(record.action, where, record.rid, at_ms, data)
