"""HTTP to a model server, shared by the upstream adapters: POST a streaming request, yield its
Server-Sent Events, and turn every way it can fail into one `UpstreamError`.

Text is decoded incrementally (httpx), so a multi-byte character split across network reads
arrives whole; SSE framing is httpx-sse's.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, Protocol

import httpx
import orjson
from httpx_sse import EventSource, ServerSentEvent

from agents.models.base import Item
from app import redact
from app.errors import (
    RateLimited,
    UpstreamAuth,
    UpstreamDropped,
    UpstreamError,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from app.usage import Usage

MAX_ERROR_BODY = 64 * 1024


def make_client(connect_timeout_s: float) -> httpx.AsyncClient:
    # No read timeout here: the call's own timers (base.limited) bound every wait.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(None, connect=connect_timeout_s, write=30.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        follow_redirects=False,
    )


class StreamParser(Protocol):
    """One wire format's reading of a streamed answer (openai_chat.ChatStream, ...)."""

    done: bool

    def feed(self, event: ServerSentEvent, http_status: int = 200) -> list[Item]: ...

    def end(self, http_status: int | None) -> None: ...

    def reported(self) -> Usage | None:
        """The upstream's token usage, once the stream is complete."""
        ...


async def stream_items(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    body: dict[str, Any],
    parser: StreamParser,
) -> AsyncIterator[Item]:
    """The answer's items (text, tool calls, citations), as `parser` reads them from the
    upstream's events, then its `Usage` if the upstream counted."""
    status: int | None = None
    events = post_sse(client, url, headers, body)
    try:
        async with aclosing(events):  # closing us closes the upstream request at once
            async for status, event in events:
                for item in parser.feed(event, status):
                    yield item
                if parser.done:
                    break
        parser.end(status)  # raises unless the stream was complete
    except UpstreamError as exc:  # its message may quote the key we sent (redact.py)
        raise scrubbed(exc, redact.secrets_of(headers)) from None
    usage = parser.reported()
    if usage is not None:
        yield usage


def scrubbed(exc: UpstreamError, secrets: tuple[str, ...]) -> UpstreamError:
    message = redact.scrub(exc.message, secrets)
    if message == exc.message:
        return exc
    return type(exc)(message, retriable=exc.retriable, upstream_status=exc.upstream_status)


async def post_sse(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str], body: dict[str, Any]
) -> AsyncGenerator[tuple[int, ServerSentEvent], None]:
    """(HTTP status, event) for each event of the streamed answer; UpstreamError on faults."""
    status: int | None = None
    try:
        async with client.stream(
            "POST", url, content=orjson.dumps(body), headers=_headers(headers)
        ) as response:
            status = response.status_code
            if status != 200:
                raise http_error(status, response.headers, await _read_capped(response))
            kind = response.headers.get("content-type", "").partition(";")[0].strip()
            if kind != "text/event-stream":
                detail = (await _read_capped(response))[:300].decode(errors="replace")
                raise UpstreamProtocol(
                    f"upstream answered {kind or 'no content type'}, not a stream: {detail}",
                    upstream_status=status,
                )
            async for event in EventSource(response).aiter_sse():
                yield status, event
    except httpx.ConnectError as exc:
        raise UpstreamUnreachable(f"cannot reach the model server: {exc}") from None
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"model server timed out: {exc!r}") from None
    except httpx.TransportError as exc:  # reset, closed mid-body, broken chunking
        raise dropped(status, f"{type(exc).__name__}: {exc}") from None


def dropped(status: int | None, detail: str) -> UpstreamError:
    return UpstreamDropped(f"the model server's stream broke off: {detail}", upstream_status=status)


def protocol_error(detail: str, status: int | None) -> UpstreamError:
    """A stream the parser cannot read (not the format it speaks): not retriable, the same
    server would answer the same."""
    return UpstreamProtocol(detail, upstream_status=status)


def http_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """An HTTP error answer as an UpstreamError: retriable for 408/425/429/5xx."""
    kind, message = error_detail(body)
    detail = message or body[:300].decode(errors="replace").strip() or "no detail"
    kind_of_error = classify(status)
    wait = retry_after_s(headers)
    hint = f" (retry after {wait:g} s)" if wait is not None else ""
    label = f"{kind}: " if kind else ""
    message = f"upstream answered {status}: {label}{detail}{hint}"
    return kind_of_error(message, upstream_status=status)


def stream_error(payload: Any, http_status: int, status: int | None = None) -> UpstreamError:
    """An error the server sent inside a 200 stream. Retriable unless its type says the request
    itself is wrong: mid-stream, the request was already accepted once."""
    kind, message = error_detail(orjson.dumps(payload))
    text = f"upstream error mid-stream: {kind + ': ' if kind else ''}{message or 'no detail'}"
    if status is not None:
        return classify(status)(text, upstream_status=status)
    return UpstreamError(text, retriable=not _is_request_fault(kind), upstream_status=http_status)


def classify(status: int) -> type[UpstreamError]:
    """The kind of failed call an HTTP error status is (its code and whether it is retriable)."""
    if status == 429:
        return RateLimited
    if status in (408, 425) or status >= 500:
        return UpstreamUnavailable
    if status in (401, 403):
        return UpstreamAuth
    if 400 <= status < 500:
        return UpstreamRejected
    return UpstreamError


def error_detail(body: bytes) -> tuple[str, str]:
    """(type, message) from the error bodies servers send: OpenAI's and Anthropic's
    `{"error": {"type", "message"}}`, vLLM's bare `{"object": "error", ...}`, Ollama's
    `{"error": "text"}`. Empty strings when the body says nothing usable."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(obj, dict):
        return "", ""
    inner = obj.get("error", obj)
    if isinstance(inner, str):
        return "", inner[:1000]
    if not isinstance(inner, dict):
        return "", ""
    kind, message = inner.get("type"), inner.get("message")
    return (
        kind if isinstance(kind, str) else "",
        message[:1000] if isinstance(message, str) else "",
    )


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait per `retry-after-ms` (OpenAI) or `retry-after` (seconds or a date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, round(when.timestamp() - time.time(), 3))


def _is_request_fault(kind: str) -> bool:
    return any(
        word in kind
        for word in ("invalid_request", "authentication", "permission", "not_found", "billing")
    )


def _headers(extra: Mapping[str, str]) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "user-agent": "tokenrelay",
        **extra,
    }


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_ERROR_BODY:
            break
    return bytes(body)
