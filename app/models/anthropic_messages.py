"""`anthropic/<model>`: the Anthropic Messages API, streamed. `MessageStream` is the pure wire
parser; `AnthropicMessages` the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from app.models.base import Call, load_json
from app.models.upstream import dropped, stream_error, stream_text

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# The statuses Anthropic documents for each error type, for errors that arrive mid-stream.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class MessageStream:
    """Folds the events of one streamed message into text pieces.

    message_start, content_block_start/delta/stop, message_delta, message_stop, with `ping`
    anywhere and `error` possible mid-stream. Only `text_delta`s are text; thinking, tool input
    and citations deltas are not part of the answer. Unknown event types are skipped, as
    Anthropic asks of clients.
    """

    def __init__(self) -> None:
        self.done = False  # message_stop seen
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}

    def feed(self, event: ServerSentEvent, http_status: int = 200) -> list[str]:
        if not event.data:
            return []
        obj = load_json(event.data, http_status)
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type", event.event)
        if kind == "error":
            inner = obj.get("error")
            status = ERROR_STATUS.get(inner.get("type", "")) if isinstance(inner, dict) else None
            raise stream_error(obj, http_status, status)
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                return [text] if isinstance(text, str) and text else []
        elif kind == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")  # empty in practice, but it is text if not
                return [text] if isinstance(text, str) and text else []
        elif kind == "message_start":
            message = obj.get("message")
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                self.usage.update(message["usage"])
        elif kind == "message_delta":
            if isinstance(obj.get("usage"), dict):
                self.usage.update(obj["usage"])
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.stop_reason = str(delta["stop_reason"])
        elif kind == "message_stop":
            self.done = True
        return []

    def end(self, http_status: int | None) -> None:
        if not self.done:
            raise dropped(http_status, "the stream ended before message_stop")


class AnthropicMessages:
    def __init__(
        self, client: httpx.AsyncClient, base_url: str, api_key: str, max_tokens: int
    ) -> None:
        self.client = client
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self.api_key = api_key
        self.max_tokens = max_tokens

    def stream(self, call: Call) -> AsyncIterator[str]:
        return self._stream(call)

    async def _stream(self, call: Call) -> AsyncIterator[str]:
        headers = {"anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        body = request_body(call, self.max_tokens)
        async for text in stream_text(self.client, self.url, headers, body, MessageStream()):
            yield text


def request_body(call: Call, max_tokens: int) -> dict[str, Any]:
    """System (and developer) messages become the top-level `system`; Messages has no such role."""
    system = [_text(m["content"]) for m in call.messages if m["role"] in ("system", "developer")]
    body: dict[str, Any] = {
        "model": call.model.partition("/")[2],
        "max_tokens": call.params.get("max_tokens", max_tokens),
        "messages": [
            {"role": m["role"], "content": m["content"]}
            for m in call.messages
            if m["role"] in ("user", "assistant")
        ],
        "stream": True,
    }
    if system:
        body["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p"):
        if name in call.params:
            body[name] = call.params[name]
    if "stop" in call.params:
        body["stop_sequences"] = call.params["stop"]
    return body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p for p in content if isinstance(p, Mapping) and p.get("type") == "text"]
    return "".join(str(p.get("text", "")) for p in parts)
