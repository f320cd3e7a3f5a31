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
    """A request over one of the edge's size limits (its subclasses): sent again as it is, it
    fails again, so 413 and not 429."""

    status = 413
    code = "too_large"


class BodyTooLarge(TooLarge):
    """A request body over the configured limit."""

    code = "body_too_large"


class InputTooLong(TooLarge):
    """More characters of input, all calls together, than TOKENRELAY_EDGE_MAX_INPUT_CHARS."""

    code = "input_too_long"


class TooManyCalls(TooLarge):
    """More model calls in one request than TOKENRELAY_GENERATION_MAX_CALLS."""

    code = "too_many_calls"


class TooManyStreams(TooLarge):
    """More responses on one multiplexed connection than TOKENRELAY_EDGE_MAX_STREAMS."""

    code = "too_many_streams"


class TooMany(TokenRelayError):
    """More at once than the edge allows (its subclasses): the same request may succeed once
    some of them end. The edge sends `retry_after` as the Retry-After header."""

    retriable = True
    status = 429
    code = "too_many"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyConnections(TooMany):
    """SSE connections of one client address or one credential at this edge's limit."""

    code = "too_many_connections"


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


class Unauthorized(TokenRelayError):
    """No credential, or one that is not valid (unknown, revoked or expired)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, presented: bool = True) -> None:
        super().__init__(message)
        # RFC 6750: a request that brought no credential gets the challenge without an error.
        error = ', error="invalid_token"' if presented else ""
        self.headers = {"WWW-Authenticate": f'Bearer realm="tokenrelay"{error}'}


class Forbidden(TokenRelayError):
    """A valid read token whose scope does not cover what was asked for."""

    status = 403
    code = "forbidden"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": 'Bearer realm="tokenrelay", error="insufficient_scope"'}


class TooManyResponses(TooMany):
    """An API key already has its limit of responses in progress on this edge."""

    code = "too_many_responses"


class NotRetained(TokenRelayError):
    """The events after the requested position are no longer retained."""

    status = 410
    code = "not_retained"


class Unavailable(TokenRelayError):
    """Kafka cannot be reached right now."""

    retriable = True
    status = 503
    code = "unavailable"
