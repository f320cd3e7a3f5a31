"""Byte-exact streaming answers of the OpenAI Chat Completions and Anthropic Messages APIs, as
recorded from the real services: field order, compact JSON (and Anthropic's one spaced `ping`),
raw UTF-8, the role chunk, `usage: null` on every chunk with include_usage, the usage-only
chunk with no choices, `[DONE]`; message_start ... message_stop with pings in between.
"""

from __future__ import annotations

import json
from typing import Any

# Multi-byte text of every width: 2-byte (ü, é), 3-byte (日本, “ ”), 4-byte and ZWJ emoji.
TEXT = "Grüße aus Köln! 日本語のテキスト 🚀✨ — naïve café, “quotes” & 👩‍👩‍👧 family. Done."


def pieces(text: str = TEXT, size: int = 4) -> list[str]:
    """The text as a model streams it: short pieces, each whole characters."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ---- OpenAI Chat Completions -------------------------------------------------------------

CHAT_ID = "chatcmpl-CDF6ivK0qJDe3E4nDXwz8QzAx1gDu"
CREATED = 1757522940
SYSTEM_FINGERPRINT = "fp_560af6e559"


def _chunk(model: str, choices: list[Any], usage: Any = None) -> bytes:
    obj = {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": usage,
        "obfuscation": "sU9k",
    }
    return f"data: {_json(obj)}\n\n".encode()


def openai_role(model: str) -> bytes:
    delta = {"role": "assistant", "content": "", "refusal": None}
    return _chunk(model, [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])


def openai_text(model: str, text: str) -> bytes:
    choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
    return _chunk(model, [choice])


def openai_finish(model: str, reason: str = "stop") -> bytes:
    return _chunk(model, [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}])


def openai_usage(model: str, prompt: int = 19, completion: int = 27) -> bytes:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    return _chunk(model, [], usage)


OPENAI_DONE = b"data: [DONE]\n\n"


def openai_stream(model: str, texts: list[str]) -> list[bytes]:
    """One whole answer, event by event."""
    return [
        openai_role(model),
        *(openai_text(model, t) for t in texts),
        openai_finish(model),
        openai_usage(model),
        OPENAI_DONE,
    ]


OPENAI_STREAM_ERROR = (
    b'data: {"error":{"message":"The server had an error while processing your request. '
    b'Sorry about that!","type":"server_error","param":null,"code":null}}\n\n'
)
# OpenAI's error bodies are indented JSON with a trailing newline.
OPENAI_429_BODY = (
    b'{\n    "error": {\n        "message": "Rate limit reached for gpt-4o-mini in organization '
    b"org-x on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
    b'",\n        "type": "requests",\n        "param": null,\n        "code": '
    b'"rate_limit_exceeded"\n    }\n}\n'
)
OPENAI_404_BODY = (
    b'{\n    "error": {\n        "message": "The model `nope` does not exist or you do not have '
    b'access to it.",\n        "type": "invalid_request_error",\n        "param": null,\n'
    b'        "code": "model_not_found"\n    }\n}\n'
)
OPENAI_503_BODY = (
    b'{\n    "error": {\n        "message": "The engine is currently overloaded, please try '
    b'again later",\n        "type": "server_error",\n        "param": null,\n        "code": '
    b"null\n    }\n}\n"
)
OPENAI_HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("access-control-expose-headers", "X-Request-ID"),
    ("openai-organization", "user-x"),
    ("openai-processing-ms", "178"),
    ("openai-version", "2020-10-01"),
    ("x-request-id", "req_0a6c5b2f0d5e4b0f9f5d8a1e2c3b4a59"),
    ("cf-cache-status", "DYNAMIC"),
]


# ---- Anthropic Messages ------------------------------------------------------------------

MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def anthropic_start(model: str) -> bytes:
    message = {
        "model": model,
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 21,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1,
            "service_tier": "standard",
        },
    }
    return _event("message_start", _json({"type": "message_start", "message": message}))


def anthropic_block_start(index: int = 0) -> bytes:
    block = {"type": "text", "text": ""}
    return _event(
        "content_block_start",
        _json({"type": "content_block_start", "index": index, "content_block": block}),
    )


ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def anthropic_text(text: str, index: int = 0) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return _event(
        "content_block_delta",
        _json({"type": "content_block_delta", "index": index, "delta": delta}),
    )


def anthropic_thinking(thinking: str) -> bytes:
    delta = {"type": "thinking_delta", "thinking": thinking}
    return _event(
        "content_block_delta", _json({"type": "content_block_delta", "index": 0, "delta": delta})
    )


def anthropic_block_stop(index: int = 0) -> bytes:
    return _event("content_block_stop", _json({"type": "content_block_stop", "index": index}))


def anthropic_message_delta(reason: str = "end_turn", output_tokens: int = 27) -> bytes:
    obj = {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }
    return _event("message_delta", _json(obj))


ANTHROPIC_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def anthropic_stream(model: str, texts: list[str]) -> list[bytes]:
    """One whole answer, event by event, with the pings the API sends."""
    body = [anthropic_start(model), anthropic_block_start(), ANTHROPIC_PING]
    for i, text in enumerate(texts):
        body.append(anthropic_text(text))
        if i % 5 == 4:
            body.append(ANTHROPIC_PING)
    return [*body, anthropic_block_stop(), anthropic_message_delta(), ANTHROPIC_STOP]


ANTHROPIC_OVERLOADED_EVENT = (
    b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
    b'"message": "Overloaded"}}\n\n'
)
ANTHROPIC_529_BODY = (
    b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},'
    b'"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}'
)
ANTHROPIC_429_BODY = (
    b'{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed '
    b"the rate limit for your organization of 50 requests per minute. For details, refer to: "
    b'https://docs.claude.com/en/api/rate-limits."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"}'
)
ANTHROPIC_400_BODY = (
    b'{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field '
    b'required"},"request_id":"req_011CSHoEeqs5C35K2UUqR7G0"}'
)
ANTHROPIC_HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
    ("anthropic-organization-id", "27796668-7351-40ac-acc4-024aee8995a5"),
    ("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
    ("via", "1.1 google"),
    ("cf-cache-status", "DYNAMIC"),
    ("x-robots-tag", "none"),
]


def split_inside_char(event: bytes) -> list[bytes]:
    """The event as two network writes, cut inside a multi-byte character when it has one."""
    for i, byte in enumerate(event):
        if byte & 0xC0 == 0x80:  # a UTF-8 continuation byte: cutting here splits a character
            return [event[:i], event[i:]]
    return [event[: len(event) // 2], event[len(event) // 2 :]]
