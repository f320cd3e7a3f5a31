"""run_response's policy with fake adapters and a recording writer (no Kafka): parallel calls,
the first failure ends the response and stops the others, cancel, a stopping worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.models.base import Limits, ModelAdapter
from agents.running import run_response
from app.contract.requests import Call
from app.errors import UnknownModel, UpstreamError
from app.summary import Tally

LIMITS = Limits(first_token_s=5, idle_s=5, deadline_s=30)


class Writer:
    rid = "r"

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.tally = Tally()
        self.known: dict[str, dict[str, Any]] = {}  # source -> what its source.done said

    async def delta(self, text: str, source: str = "answer") -> None:
        self.log.append(("delta", source, text))

    async def source_done(self, source: str = "answer", **known: Any) -> None:
        self.log.append(("source.done", source))
        self.known[source] = known

    async def done(self) -> None:
        self.log.append(("done",))

    async def cancelled(self) -> None:
        self.log.append(("cancelled",))

    async def error(
        self,
        message: str,
        *,
        retriable: bool,
        code: str = "upstream_error",
        source: str = "answer",
        status: int | None = None,
    ) -> None:
        self.log.append(("error", source, code, retriable))

    def text(self, source: str) -> str:
        return "".join(e[2] for e in self.log if e[0] == "delta" and e[1] == source)


class Model:
    """model name `n:delay` yields n pieces `delay` s apart; `fail` after 2 pieces raises."""

    def __init__(self) -> None:
        self.closed: list[str] = []

    def stream(self, call: Call) -> AsyncIterator[str]:
        return self._stream(call)

    async def _stream(self, call: Call) -> AsyncIterator[str]:
        try:
            count, delay = call.model.split(":")
            for i in range(int(count) if count != "fail" else 2):
                await asyncio.sleep(float(delay))
                yield f"{call.source}{i} "
            if count == "fail":
                raise UpstreamError("boom", retriable=True)
        finally:
            self.closed.append(call.source)


def calls(*models: str) -> list[Call]:
    return [Call(f"s{i}", m, ({"role": "user", "content": "x"},)) for i, m in enumerate(models)]


def adapters(model: Model) -> Any:
    def pick(name: str) -> ModelAdapter:
        return model

    return pick


async def test_parallel_calls_each_finish_then_one_done() -> None:
    writer, model = Writer(), Model()
    await run_response(
        writer, calls("3:0.01", "5:0.003", "1:0"), adapters(model), LIMITS, lambda: False
    )  # type: ignore[arg-type]
    assert writer.log[-1] == ("done",)
    assert [e[1] for e in writer.log if e[0] == "source.done"] == ["s2", "s1", "s0"]
    assert writer.text("s0") == "s00 s01 s02 " and writer.text("s1").count(" ") == 5
    kinds = [e[0] for e in writer.log]
    assert kinds.count("done") == 1 and "error" not in kinds


async def test_first_failure_ends_the_response_and_stops_the_others() -> None:
    writer, model = Writer(), Model()
    await run_response(
        writer, calls("1000:0.01", "fail:0.01", "1:0"), adapters(model), LIMITS, lambda: False
    )  # type: ignore[arg-type]
    assert writer.log[-1] == ("error", "s1", "upstream_error", True)
    assert sorted(model.closed) == ["s0", "s1", "s2"]  # the slow sibling's request was closed
    assert ("source.done", "s2") in writer.log and ("source.done", "s0") not in writer.log
    assert writer.text("s0").count(" ") < 100


async def test_cancel_closes_every_call_then_writes_cancelled() -> None:
    writer, model = Writer(), Model()
    task = asyncio.create_task(
        run_response(writer, calls("1000:0.01", "1000:0.01"), adapters(model), LIMITS, lambda: True)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.1)
    task.cancel()
    await task  # a requested cancel is handled, not re-raised
    assert writer.log[-1] == ("cancelled",)
    assert sorted(model.closed) == ["s0", "s1"]
    assert not any(e[0] == "delta" for e in writer.log[writer.log.index(("cancelled",)) :])


async def test_a_stopping_worker_ends_with_a_retriable_error() -> None:
    writer, model = Writer(), Model()
    task = asyncio.create_task(
        run_response(writer, calls("1000:0.01"), adapters(model), LIMITS, lambda: False)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.log[-1] == ("error", "answer", "worker_stopped", True)


async def test_a_bug_in_an_adapter_is_a_retriable_error_not_a_hang() -> None:
    class Broken:
        def stream(self, call: Call) -> AsyncIterator[str]:
            raise RuntimeError("adapter bug")

    writer = Writer()
    await run_response(writer, calls("x"), lambda m: Broken(), LIMITS, lambda: False)  # type: ignore[arg-type]
    assert writer.log == [("error", "s0", "generation_failed", True)]


async def test_an_unknown_model_ends_the_response() -> None:
    def unknown(model: str) -> ModelAdapter:
        raise UnknownModel("no such model")

    writer = Writer()
    await run_response(writer, calls("x"), unknown, LIMITS, lambda: False)  # type: ignore[arg-type]
    assert writer.log == [("error", "s0", "unknown_model", False)]
