"""Running one response: its model calls at once, each call's items written through its
ResponseWriter as they come; then `done`, or the first failure's `error` (the others stopped), or
`cancelled`. agents/generation.py decides which requests run here and when.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agents.models.base import Citation, Item, Limits, ModelAdapter, ToolCall, limited
from app.contract.requests import Call
from app.errors import GenerationFailed, UpstreamError, WorkerStopped
from app.request.calls import ANSWER
from app.usage import Usage
from app.writer import ResponseWriter

log = logging.getLogger(__name__)


async def fail(writer: ResponseWriter, exc: UpstreamError, source: str = ANSWER) -> None:
    """End the response with the upstream fault `exc`, labelled with the call that failed."""
    log.warning("%s ends with error %s: %s", source, exc.code, exc.message)  # rid: app/logs.py
    await writer.error(
        exc.message,
        retriable=exc.retriable,
        code=exc.code,
        source=source,
        status=exc.upstream_status,
    )


async def run_call(
    writer: ResponseWriter, call: Call, adapters: Callable[[str], ModelAdapter], limits: Limits
) -> None:
    source = call.source
    started = time.monotonic()
    first_token_ms: float | None = None
    usage: Usage | None = None
    items = limited(adapters(call.model).stream(call), limits)
    # Until the first text: the same dispatch, plus the clock (leaving this loop keeps `items`
    # open; the loop below goes on with it and has no per-token check added).
    async for item in items:
        if type(item) is str and item:
            first_token_ms = (time.monotonic() - started) * 1000
            await writer.delta(item, source)
            break
        usage = await _write(writer, item, source) or usage
    async for item in items:
        if type(item) is str:  # the per-token case first
            await writer.delta(item, source)  # "" (output that is not text yet) writes nothing
        else:
            usage = await _write(writer, item, source) or usage
    await writer.source_done(
        source,
        model=call.model,
        usage=usage,
        first_token_ms=first_token_ms,
        duration_ms=(time.monotonic() - started) * 1000,
    )


async def _write(writer: ResponseWriter, item: Item, source: str) -> Usage | None:
    """An item that is not a text piece: written, or (a Usage) handed back for source.done."""
    if type(item) is ToolCall:
        await writer.tool_call(item.call_id, item.name, item.arguments, source)
    elif type(item) is Citation:
        await writer.citation(item.ref, source)
    elif type(item) is Usage:
        return item
    return None


async def run_response(
    writer: ResponseWriter,
    calls: list[Call],
    adapters: Callable[[str], ModelAdapter],
    limits: Limits,
    cancel_requested: Callable[[], bool],
) -> None:
    """All calls at once; then `done`, or the first failure's `error`, or `cancelled`."""
    writer.tally.calls.update((call.source, call.model) for call in calls)  # for its summary
    tasks = [
        asyncio.create_task(run_call(writer, call, adapters, limits), name=call.source)
        for call in calls
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        await _stop(tasks)  # closes every upstream request before the terminal event is written
        if cancel_requested():
            await writer.cancelled()
            return
        stopping = WorkerStopped("the worker is stopping")
        await fail(writer, stopping)
        raise
    failures = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
    if not failures:
        await writer.done()
        return
    await _stop(tasks)
    first = failures[0]
    exc = first.exception()
    if not isinstance(exc, UpstreamError):
        log.error("model call %s of %s failed", first.get_name(), writer.rid, exc_info=exc)
        exc = GenerationFailed(f"model call failed: {exc!r}")
    await fail(writer, exc, first.get_name())


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
