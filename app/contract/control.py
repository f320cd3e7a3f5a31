"""The records of <prefix>.control, `{"rid", "action", "client", "ts", "in_flight", "who",
"key_id"}` (written by the edge's cancel): read by every worker (generation.py) and by the
persist group for the audit log, which dead-letters what is not one. An unknown `action` is a
record of a later version, not a defect: readers skip it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from app.errors import DecodeError

CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Control:
    """One action on a response. Only `rid` and `action` are required: the rest is for the audit
    log, and a record from an older edge may lack any of it."""

    rid: str
    action: str
    client: str | None = None  # the caller's address as the edge saw it (app/edge/client.py)
    ts: float | None = None  # epoch ms, the edge's clock
    # False: the response was already over (a cancel kept for the audit log; workers skip it).
    # Edges before the field sent none: in flight.
    in_flight: bool = True
    who: str | None = None  # the API key's name and id (None with auth off)
    key_id: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "rid": self.rid,
                "action": self.action,
                "client": self.client,
                "ts": self.ts,
                "in_flight": self.in_flight,
                "who": self.who,
                "key_id": self.key_id,
            }
        )

    @property
    def stops(self) -> bool:
        """Whether a worker running the response stops it."""
        return self.action == CANCEL and self.in_flight


def decode(value: bytes | None) -> Control:
    """A control record with a string `rid` and `action`; DecodeError otherwise. The optional
    fields are read leniently (a wrong type reads as absent)."""
    try:
        obj: Any = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DecodeError("a control record is a JSON object")
    if not isinstance(obj.get("rid"), str) or not obj["rid"]:
        raise DecodeError("a control record names its response in `rid`")
    if not isinstance(obj.get("action"), str):
        raise DecodeError("a control record has a string `action`")
    ts = obj.get("ts")
    return Control(
        rid=obj["rid"],
        action=obj["action"],
        client=_text(obj.get("client")),
        ts=float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None,
        in_flight=obj.get("in_flight") is not False,
        who=_text(obj.get("who")),
        key_id=_text(obj.get("key_id")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
