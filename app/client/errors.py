"""The client's exceptions: one per answer a caller handles differently, and the stream's own
faults. Separate from app/errors.py, which is the server's tree (what the edge raises)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


class ClientError(Exception):
    """Base of everything the tokenrelay client raises."""


class ApiError(ClientError):
    """The edge answered with an error status; `code` and `message` are its error body's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BadRequest(ApiError):
    """400: a request, view name or cursor the edge refused (`cursor_beyond_end` included)."""


class AuthError(ApiError):
    """401 or 403: no credential, a bad one, or one that does not cover what was asked."""


class Unauthorized(AuthError):
    """401: no API key / read token, or an unknown, revoked or expired one."""


class Forbidden(AuthError):
    """403: a token whose scope does not cover this read, or a moderated response's raw stream
    (`code` `moderated_response`: read `?view=moderated` instead)."""


class UnknownResponse(ApiError):
    """404: no response with this id (or a view it did not ask for)."""


class NotRetained(ApiError):
    """410: the events after the cursor are no longer held by Kafka or storage."""


class RateLimited(ApiError):
    """429: too many responses or connections; `retry_after` is the server's hint in seconds."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class Unavailable(ApiError):
    """502/503/504: the edge (or Kafka behind it) is unreachable for now."""


class StreamError(ClientError):
    """A stream that cannot go on: retries used up, a gap, or bytes that are not the protocol."""


class RetriesExhausted(StreamError):
    """The stream dropped `attempts` times in a row without a new event."""

    def __init__(self, attempts: int, cause: str, last_event_id: str) -> None:
        super().__init__(
            f"gave up after {attempts} reconnects without progress (last: {cause}); "
            f"resume from Last-Event-ID {last_event_id!r}"
        )
        self.attempts = attempts
        self.cause = cause
        self.last_event_id = last_event_id


class GapError(StreamError):
    """The server sent seq `got` where `expected` was next: events would be missing."""

    def __init__(self, rid: str, expected: int, got: int) -> None:
        super().__init__(f"stream of {rid} skipped from seq {expected - 1} to {got}")
        self.rid = rid
        self.expected = expected
        self.got = got


class ProtocolError(StreamError):
    """The edge sent something that is not its SSE protocol (a malformed event, wrong type)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: UnknownResponse,
    410: NotRetained,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def error_for(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """The exception for an error answer: the edge's `{"error": {"code", "message"}}` when the
    body is one, else the status alone (a proxy's error page, say)."""
    code, message = "http_error", body[:200].decode("utf-8", errors="replace").strip()
    try:
        obj: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        code = str(obj["error"].get("code", code))
        message = str(obj["error"].get("message", message))
    if status == 429:
        return RateLimited(status, code, message, retry_after(headers))
    kind = _BY_STATUS.get(status, ApiError)
    return kind(status, code, message or f"HTTP {status}")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds when given as a number (the edge never sends a date)."""
    raw = headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None
