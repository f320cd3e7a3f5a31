"""A model call's token usage, normalised: `Usage(input_tokens, output_tokens)` from what each
upstream reports (OpenAI's `prompt_tokens`/`completion_tokens`, Anthropic's `input_tokens`/
`output_tokens`), and its wire form on a `source.done` event (the upstream's object kept as `raw`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    raw: Mapping[str, Any] | None = field(default=None, compare=False)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.raw is not None:
            out["raw"] = dict(self.raw)
        return out


def from_openai(obj: Mapping[str, Any] | None) -> Usage | None:
    """Chat Completions' final usage chunk (`stream_options.include_usage`); None without one."""
    if not obj:
        return None
    return Usage(_count(obj, "prompt_tokens"), _count(obj, "completion_tokens"), obj)


def from_anthropic(obj: Mapping[str, Any] | None) -> Usage | None:
    """message_start's usage updated by message_delta's (the output count grows, the input count
    is given once). Cached input tokens count as input: they were sent."""
    if not obj:
        return None
    given = sum(
        _count(obj, name)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(given, _count(obj, "output_tokens"), obj)


def from_wire(obj: Any) -> Usage | None:
    """The `usage` of a `source.done` event or an index summary; None if it is not one."""
    if not isinstance(obj, Mapping):
        return None
    return Usage(_count(obj, "input_tokens"), _count(obj, "output_tokens"))


def _count(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    # bool is an int to Python, never a count; servers send null for "not counted"
    return value if type(value) is int and value >= 0 else 0
