"""`anthropic/<model>`: the Anthropic Messages API, streamed. `MessageStream` is the pure wire
parser; `AnthropicMessages` the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import orjson
from httpx_sse import ServerSentEvent

from agents.models.anthropic_tools import tool_fields
from agents.models.anthropic_turns import translate
from agents.models.base import Citation, Item, load_json
from agents.models.toolcalls import Assembly
from agents.models.upstream import dropped, stream_error, stream_items
from app import usage
from app.contract.requests import Call
from app.usage import Usage

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
    """Folds the events of one streamed message into text pieces, tool calls and citations.

    message_start, content_block_start/delta/stop, message_delta, message_stop, with `ping`
    anywhere and `error` possible mid-stream. `text_delta`s are text. A `tool_use` block's
    `input_json_delta`s are gathered into one ToolCall at its `content_block_stop` (each yields
    "" before that: output, for the call's timers); the block of `format_tool` (the tool that
    carries `response_format`, anthropic_tools.py) is the answer itself, so its input JSON is
    yielded as text. A text block's citations (`citations_delta`, which Anthropic sends before
    the block's text) are held and yielded after that text, at the block's stop. Thinking and
    server tools (web search) are not part of the answer. Unknown event types are skipped, as
    Anthropic asks of clients.
    """

    def __init__(self, format_tool: str | None = None) -> None:
        self.done = False  # message_stop seen
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.format_tool = format_tool
        self.tools = Assembly()
        self._format_blocks: set[int] = set()
        self._citations: dict[int, list[Item]] = {}  # block index -> its citations so far

    def feed(self, event: ServerSentEvent, http_status: int = 200) -> list[Item]:
        if not event.data:
            return []
        obj = load_json(event.data, http_status)
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type", event.event)
        if kind == "error":
            inner = obj.get("error")
            etype = inner.get("type") if isinstance(inner, dict) else None
            status = ERROR_STATUS.get(etype) if isinstance(etype, str) else None
            raise stream_error(obj, http_status, status)
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, dict):
                return []
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                return [text] if isinstance(text, str) and text else []
            if dtype == "input_json_delta":
                return self._input(_index(obj), delta.get("partial_json"))
            if dtype == "citations_delta" and isinstance(delta.get("citation"), dict):
                self._citations.setdefault(_index(obj), []).append(Citation(delta["citation"]))
        elif kind == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict):
                return self._start(_index(obj), block)
        elif kind == "content_block_stop":
            return self._stop(_index(obj))
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
            out: list[Item] = list(self.tools.finish_all())  # blocks never stopped, if any
            for index in sorted(self._citations):
                out += self._citations.pop(index)
            return out
        return []

    def _start(self, index: int, block: dict[str, Any]) -> list[Item]:
        btype = block.get("type")
        if btype == "text":
            if isinstance(block.get("citations"), list):
                cited = [Citation(c) for c in block["citations"] if isinstance(c, dict)]
                self._citations.setdefault(index, []).extend(cited)
            text = block.get("text")  # empty in practice, but it is text if not
            return [text] if isinstance(text, str) and text else []
        if btype != "tool_use":
            return []
        given = block.get("input")  # `{}` on the wire; the input follows in deltas
        first = orjson.dumps(given).decode() if isinstance(given, dict) and given else None
        if self.format_tool is not None and block.get("name") == self.format_tool:
            self._format_blocks.add(index)
            return [first or ""]
        self.tools.add(index, block.get("id"), block.get("name"), first)
        return [""]

    def _input(self, index: int, fragment: Any) -> list[Item]:
        if not isinstance(fragment, str):
            return []
        if index in self._format_blocks:
            return [fragment]  # the answer's JSON, as text
        if index in self.tools:
            self.tools.add(index, fragment=fragment)
            return [""]
        return []  # a server tool's input: not ours to report

    def _stop(self, index: int) -> list[Item]:
        out: list[Item] = []
        if index in self.tools:
            call = self.tools.finish(index)
            if call is not None:
                out.append(call)
        out += self._citations.pop(index, ())
        return out

    def end(self, http_status: int | None) -> None:
        if not self.done:
            raise dropped(http_status, "the stream ended before message_stop")

    def reported(self) -> Usage | None:
        return usage.from_anthropic(self.usage)


class AnthropicMessages:
    def __init__(
        self, client: httpx.AsyncClient, base_url: str, api_key: str, max_tokens: int
    ) -> None:
        self.client = client
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self.api_key = api_key
        self.max_tokens = max_tokens

    def stream(self, call: Call) -> AsyncIterator[Item]:
        return self._stream(call)

    async def _stream(self, call: Call) -> AsyncIterator[Item]:
        headers = {"anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        body = request_body(call, self.max_tokens)
        _, format_tool = tool_fields(call.params)
        parser = MessageStream(format_tool)
        async for item in stream_items(self.client, self.url, headers, body, parser):
            yield item


def request_body(call: Call, max_tokens: int) -> dict[str, Any]:
    """Messages translated (system to the top level, tool turns to tool_use/tool_result blocks:
    anthropic_turns.py), and tools, tool choice and response_format (anthropic_tools.py)."""
    messages, system = translate(call.messages)
    body: dict[str, Any] = {
        "model": call.model.partition("/")[2],
        "max_tokens": call.params.get("max_tokens", max_tokens),
        "messages": messages,
        "stream": True,
    }
    if system is not None:
        body["system"] = system
    for name in ("temperature", "top_p"):
        if name in call.params:
            body[name] = call.params[name]
    if "stop" in call.params:
        body["stop_sequences"] = call.params["stop"]
    body.update(tool_fields(call.params)[0])
    return body


def _index(obj: Mapping[str, Any]) -> int:
    index = obj.get("index", 0)
    return index if type(index) is int else 0
