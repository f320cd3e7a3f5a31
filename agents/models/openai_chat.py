"""`openai/<model>`: any OpenAI-compatible Chat Completions server (OpenAI, vLLM, Ollama,
llama.cpp, ...), streamed. `ChatStream` is the pure wire parser; `OpenAIChat` the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from agents.models.base import Item, load_json
from agents.models.toolcalls import Assembly
from agents.models.upstream import dropped, protocol_error, stream_error, stream_items
from app import usage
from app.contract.requests import Call
from app.usage import Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The legacy `function_call` has no id and at most one call per answer.
LEGACY_INDEX = -1
LEGACY_ID = "function_call"
# Passed to the server as given (validated at the edge: app/request/tools.py, app/structured.py).
PASSED = ("max_tokens", "temperature", "top_p", "stop", "tools", "tool_choice",
          "parallel_tool_calls", "response_format")  # fmt: skip


class ChatStream:
    """Folds the chunks of one streamed chat completion into text pieces and tool calls.

    A chunk may carry only the role, empty or null content, a `finish_reason`, or (with
    `include_usage`) only `usage` and no choices; `data: [DONE]` ends the stream. An error
    can arrive as a chunk of its own. Only choice 0 is read: we never ask for n > 1.

    Tool calls come as `delta.tool_calls[]` (`index`; `id` and `function.name` on the first,
    `function.arguments` fragments after; parallel calls interleave by index) or as the legacy
    `delta.function_call`. Each is emitted whole, in index order, at the choice's
    `finish_reason` (`tool_calls`, or `stop` from some servers) or at [DONE]; each fragment
    before that yields "" (output, for the call's timers).
    """

    def __init__(self) -> None:
        self.done = False  # [DONE] seen
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.tools = Assembly()

    def feed(self, event: ServerSentEvent, http_status: int = 200) -> list[Item]:
        data = event.data
        if data.strip() == "[DONE]":
            self.done = True
            return list(self.tools.finish_all())
        if not data:
            return []  # a bare `event:` or keep-alive without data
        chunk = load_json(data, http_status)
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error") is not None or chunk.get("object") == "error":
            raise stream_error(chunk, http_status, _status_of(chunk))
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise protocol_error(f"`choices` is not a list: {data[:200]!r}", http_status)
        out: list[Item] = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for key in ("content", "refusal"):  # a refusal is what the reader should see
                    text = delta.get(key)
                    if isinstance(text, str) and text:
                        out.append(text)
                if delta.get("tool_calls") or delta.get("function_call"):
                    self._tool_deltas(delta)
                    out.append("")
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
                out.extend(self.tools.finish_all())
        return out

    def _tool_deltas(self, delta: Mapping[str, Any]) -> None:
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else ()):
            if not isinstance(call, dict):
                continue
            index = call.get("index")
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            self.tools.add(
                index if type(index) is int else position,  # a server without `index`
                call.get("id"),
                function.get("name"),
                function.get("arguments"),
            )
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):  # one call per answer, no id: a fixed one
            self.tools.add(LEGACY_INDEX, LEGACY_ID, legacy.get("name"), legacy.get("arguments"))

    def end(self, http_status: int | None) -> None:
        """The body ended: fine after [DONE], or after a finish_reason (some servers omit
        [DONE]); otherwise the answer was cut off."""
        if not self.done and self.finish_reason is None:
            raise dropped(http_status, "the stream ended before [DONE]")

    def reported(self) -> Usage | None:
        return usage.from_openai(self.usage)


class OpenAIChat:
    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.client = client
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self.api_key = api_key

    def stream(self, call: Call) -> AsyncIterator[Item]:
        return self._stream(call)

    async def _stream(self, call: Call) -> AsyncIterator[Item]:
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = request_body(call)
        async for item in stream_items(self.client, self.url, headers, body, ChatStream()):
            yield item


def request_body(call: Call) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": call.model.partition("/")[2],
        "messages": [dict(m) for m in call.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for name in PASSED:
        if name in call.params:
            body[name] = call.params[name]
    return body


def _status_of(chunk: Mapping[str, Any]) -> int | None:
    # vLLM puts the HTTP-style status in the error's `code`; OpenAI's codes are strings.
    inner = chunk.get("error")
    code = (inner if isinstance(inner, dict) else chunk).get("code")
    return code if isinstance(code, int) and 400 <= code < 600 else None
