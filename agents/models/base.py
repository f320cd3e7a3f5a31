"""The seam between generation and the models: the `ModelAdapter` Protocol every model implements
(given a `Call`, app/contract/requests.py) and what it yields (text, `ToolCall`, `Citation`,
`Usage`), and the timers every call runs under. A failing call raises an `UpstreamError`
(app/errors.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from app.contract.requests import Call
from app.errors import (
    DeadlineExceeded,
    FirstTokenTimeout,
    UpstreamError,
    UpstreamProtocol,
    UpstreamStalled,
)
from app.settings import Settings
from app.usage import Usage


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's complete tool call: `arguments` parsed JSON (the raw string if it was not JSON)."""

    call_id: str
    name: str
    arguments: Any


@dataclass(frozen=True, slots=True)
class Citation:
    """What a passage of the answer cites (an upstream's citation object), after that passage."""

    ref: dict[str, Any]


# Text pieces are plain `str` (the per-token case, checked first with `type(x) is str`). An
# empty string is output that is not text yet (tool-call arguments being assembled): it feeds
# the call's timers and writes nothing. A `Usage` comes last, once, if the upstream counted.
Item = str | ToolCall | Citation | Usage


class ModelAdapter(Protocol):
    def stream(self, call: Call) -> AsyncIterator[Item]:
        """The call's answer in order: text pieces, tool calls, citations. Faults raise
        UpstreamError.

        Closing the iterator early (cancel, a timer) must close the upstream request."""
        ...


def load_json(data: str, http_status: int) -> Any:
    """One upstream SSE payload as JSON; anything else is a protocol fault of the upstream."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocol(
            f"upstream sent data that is not JSON: {data[:200]!r}", upstream_status=http_status
        ) from None


@dataclass(frozen=True, slots=True)
class Limits:
    first_token_s: float
    idle_s: float
    deadline_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.generation_first_token_timeout_s,
            settings.generation_idle_timeout_s,
            settings.generation_deadline_s,
        )


async def limited(pieces: AsyncIterator[Item], limits: Limits) -> AsyncIterator[Item]:
    """`pieces` under the call's timers: first output, gap between outputs, whole call (any
    item counts as output, an empty string too).

    The timers run only while waiting on the upstream (`anext`), never around a `yield`: a
    timeout there would fire in the consumer's await (a Kafka send), not in the upstream read it
    is meant to stop. One timer per call (_Watch), not one per token: asyncio.timeout_at around
    every anext cost ~11 µs a token (measured, 400 demo streams at 30 tokens/s).
    """
    watch = _Watch(limits)
    async with aclosing(pieces):  # type: ignore[type-var]
        try:
            while True:
                watch.wait()
                try:
                    item = await anext(pieces)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if watch.expired():
                        raise watch.error() from None
                    raise
                watch.got()
                yield item
        finally:
            watch.close()


class _Watch:
    """The timers of one call on one timer handle. Each wait moves a deadline (a float); the
    handle, armed at an earlier one, re-arms itself when it fires early (a later one is re-armed
    at once), and cancels the task only if it is still waiting on the upstream past the current
    deadline."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "limited() runs in a task"
        self.task = task
        self.deadline = self.loop.time() + limits.deadline_s
        self.first = True
        self.waiting = False
        self.due = 0.0
        self.fired_at: float | None = None
        self._armed = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def wait(self) -> None:
        wait = self.limits.first_token_s if self.first else self.limits.idle_s
        self.due = min(self.loop.time() + wait, self.deadline)
        self.waiting = True
        if self._handle is not None and self._armed > self.due:
            self._handle.cancel()  # the wait got shorter (first token -> between tokens)
            self._handle = None
        if self._handle is None:
            self._armed = self.due
            self._handle = self.loop.call_at(self.due, self._fire)

    def got(self) -> None:
        self.waiting = False
        self.first = False

    def _fire(self) -> None:
        self._handle = None
        if not self.waiting:
            return  # the next wait arms it again
        if self.loop.time() < self.due:
            self._armed = self.due
            self._handle = self.loop.call_at(self.due, self._fire)
            return
        self.fired_at = self.due
        self.task.cancel()

    def expired(self) -> bool:
        """Whether this watch cancelled the task (and nobody else did as well)."""
        return self.fired_at is not None and self.task.uncancel() == 0

    def error(self) -> UpstreamError:
        return _timed_out(self.first, self.fired_at is not None and self.fired_at >= self.deadline,
                          self.limits)  # fmt: skip

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _timed_out(first: bool, at_deadline: bool, limits: Limits) -> UpstreamError:
    if at_deadline:
        return DeadlineExceeded(f"the model call ran past its {limits.deadline_s:g} s deadline")
    if first:
        return FirstTokenTimeout(f"no first token within {limits.first_token_s:g} s")
    return UpstreamStalled(f"no token for {limits.idle_s:g} s")
