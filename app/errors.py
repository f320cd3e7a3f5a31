"""The one exception tree. The edge maps these to HTTP statuses in one place (edge/routes.py)."""

from __future__ import annotations


class TokenRelayError(Exception):
    """Base of every tokenrelay fault."""

    retriable = False
    status = 400
    code = "bad_request"


class DecodeError(TokenRelayError):
    """A Kafka message value that is not a valid event."""

    code = "undecodable"


class BadCursor(TokenRelayError):
    """A resume position that is not a non-negative decimal integer."""

    code = "bad_cursor"


class BadRequest(TokenRelayError):
    """A request body or parameter the edge cannot accept."""

    code = "bad_request"


class TooLarge(BadRequest):
    """A request over one of the edge's size limits (body, input, calls, streams): sent again as
    it is, it fails again, so 413 and not 429."""

    status = 413
    code = "too_large"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class BodyTooLarge(TooLarge):
    """A request body over the configured limit."""

    code = "body_too_large"


class TooMany(TokenRelayError):
    """More at once than the edge allows one client (connections, requests): the same request
    may succeed once some of them end. The edge sends `retry_after` as the Retry-After header."""

    retriable = True
    status = 429
    code = "too_many"

    def __init__(self, message: str, code: str, retry_after: float) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class UnknownResponse(TokenRelayError):
    """No response with this id is known."""

    status = 404
    code = "unknown_response"


class UnknownConversation(TokenRelayError):
    """No turn of this conversation is known."""

    status = 404
    code = "unknown_conversation"


class TurnInProgress(TokenRelayError):
    """An earlier turn of the conversation is not stored yet (still streaming, or just ended)."""

    retriable = True
    status = 409
    code = "turn_in_progress"


class Withheld(TokenRelayError):
    """A stream ordinary readers may not read (the raw stream of a moderated response)."""

    status = 403
    code = "moderated_response"


class NotRetained(TokenRelayError):
    """The events after the requested position are no longer retained."""

    status = 410
    code = "not_retained"


class Unavailable(TokenRelayError):
    """Kafka cannot be reached right now."""

    retriable = True
    status = 503
    code = "unavailable"
