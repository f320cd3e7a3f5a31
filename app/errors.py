"""The one exception tree, and every error code tokenrelay emits: an HTTP answer's (`status` and
`code`; the edge maps them in one place, edge/routes.py on_error) or a stream's terminal `error`
event's (`StreamError`'s subclasses: their `code` and `retriable` go in the event).
"""

from __future__ import annotations


class TokenRelayError(Exception):
    """Base of every tokenrelay fault."""

    retriable = False
    status = 400
    code = "bad_request"


class DecodeError(TokenRelayError):
    """A Kafka record that is not its topic's message (it is dead-lettered, never answered)."""

    code = "undecodable"


class HTTPFault(TokenRelayError):
    """Starlette's own answers (no such route, a method not served): status is Starlette's."""

    status = 404
    code = "http_error"


class BadCursor(TokenRelayError):
    """A resume position that is not a non-negative decimal integer."""

    code = "bad_cursor"


class CursorBeyondEnd(TokenRelayError):
    """A resume position past the terminal event of a finished response."""

    status = 400
    code = "cursor_beyond_end"


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


class WriteFailed(TokenRelayError):
    """Kafka refused a response's event after librdkafka's retries; the watchdog ends it."""

    retriable = True
    status = 503
    code = "write_failed"


# --- Terminal errors: a stream's `error` event, once the stream has begun (never an HTTP answer).


class StreamError(TokenRelayError):
    """What ends a response with a terminal `error` event carrying `code` and `retriable`."""

    status = 500  # never an HTTP answer: one reaching on_error is a bug
    code = "stream_error"


class UpstreamError(StreamError):
    """A model call that failed: the upstream refused, broke off, took too long, or never ran."""

    code = "upstream_error"  # an error inside a 200 stream of no known kind

    def __init__(
        self, message: str, *, retriable: bool | None = None, upstream_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if retriable is not None:  # a mid-stream `upstream_error`'s depends on its type
            self.retriable = retriable
        self.upstream_status = upstream_status


class RateLimited(UpstreamError):
    """The upstream answered 429."""

    retriable, code = True, "rate_limited"


class UpstreamUnavailable(UpstreamError):
    """The upstream answered 408, 425 or 5xx, or said overloaded."""

    retriable, code = True, "upstream_unavailable"


class UpstreamAuth(UpstreamError):
    """The upstream refused our credential (401, 403)."""

    retriable, code = False, "upstream_auth"


class UpstreamRejected(UpstreamError):
    """The upstream refused the request (4xx)."""

    retriable, code = False, "upstream_rejected"


class UpstreamDropped(UpstreamError):
    """The upstream's stream broke off."""

    retriable, code = True, "upstream_dropped"


class UpstreamUnreachable(UpstreamError):
    """The upstream could not be reached."""

    retriable, code = True, "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    """An HTTP timeout of the upstream request."""

    retriable, code = True, "upstream_timeout"


class UpstreamProtocol(UpstreamError):
    """The upstream answered something that is not its stream format."""

    retriable, code = False, "upstream_protocol"


class FirstTokenTimeout(UpstreamError):
    """No output within TOKENRELAY_GENERATION_FIRST_TOKEN_TIMEOUT_S."""

    retriable, code = True, "first_token_timeout"


class UpstreamStalled(UpstreamError):
    """No output for TOKENRELAY_GENERATION_IDLE_TIMEOUT_S."""

    retriable, code = True, "upstream_stalled"


# Not retriable: the same call would most likely run as long again.
class DeadlineExceeded(UpstreamError):
    """The call ran past TOKENRELAY_GENERATION_DEADLINE_S."""

    retriable, code = False, "deadline_exceeded"


class UnknownModel(UpstreamError):
    """A model this worker does not offer."""

    retriable, code = False, "unknown_model"


class BadCalls(UpstreamError):
    """A request record whose calls the worker refuses."""

    retriable, code = False, "bad_request"


class GenerationFailed(UpstreamError):
    """A model call failed with a bug of ours."""

    retriable, code = True, "generation_failed"


class WorkerStopped(UpstreamError):
    """The worker running the response is stopping."""

    retriable, code = True, "worker_stopped"


class CacheUnavailable(UpstreamError):
    """The stored answer a cache hit replays could not be read."""

    retriable, code = True, "cache_unavailable"


class ProducerLost(StreamError):
    """The response's writer stopped writing (its worker died): the watchdog ends it."""

    retriable = True
    code = "producer_lost"


class ViewUnavailable(StreamError):
    """The raw events a view needs are gone from Kafka (it ends that view only)."""

    code = "view_unavailable"


class ViewFailed(StreamError):
    """A view's transform raised (the same raw events make it raise again: not retriable)."""

    code = "view_failed"


class Moderated(StreamError):
    """Moderation blocked the response (the `moderated` view's end)."""

    code = "moderated"


class ModerationUnavailable(StreamError):
    """No moderation verdict, and unjudged text is not released."""

    retriable = True
    code = "moderation_unavailable"


def tree() -> list[type[TokenRelayError]]:
    """Every class of this module's tree, the root first (subclasses elsewhere, such as the edge's
    MaybeGone, refine one without a code of their own)."""
    out: list[type[TokenRelayError]] = [TokenRelayError]
    for cls in out:
        out += [c for c in cls.__subclasses__() if c.__module__ == __name__]
    return out


def terminal_codes() -> set[str]:
    """Every code a stream's terminal `error` event can carry."""
    return {c.code for c in tree() if issubclass(c, StreamError) and c is not StreamError}
