"""The records of <prefix>.control, `{"rid", "action", "client", "ts", "in_flight"}` (written by
the edge's cancel): read by every worker (generation.py) and by the persist group for the audit
log, which dead-letters what is not one. An unknown `action` is a record of a later version, not
a defect: readers skip it.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.errors import DecodeError

CANCEL = "cancel"


def decode(value: bytes | None) -> dict[str, Any]:
    """A control record as an object with a string `rid` and `action`; DecodeError otherwise."""
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
    return obj
