"""The generation agent: takes requests from <prefix>.requests and runs their model calls,
publishing tokens through the producer SDK. Generation lives in workers, never in the edge.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import orjson

from app.models import demo
from app.producer import Publisher, ResponseWriter
from app.settings import Settings

log = logging.getLogger(__name__)


async def run_demo(writer: ResponseWriter, request: dict[str, Any], settings: Settings) -> None:
    params = request.get("params") or {}
    cancelled = False
    try:
        async for chunk in demo.generate(
            str(request.get("input", "")),
            tokens=int(params.get("tokens", settings.demo_tokens)),
            rate=float(params.get("rate", settings.demo_rate)),
            first_token_ms=float(params.get("first_token_ms", settings.demo_first_token_ms)),
        ):
            await writer.delta(chunk)
        await writer.source_done()
        await writer.done()
    except asyncio.CancelledError:
        if not request.get("cancel_requested"):
            raise  # the worker is stopping, not the reader asking
        cancelled = True
    except Exception as exc:  # any model fault ends the response; readers never wait forever
        log.exception("generation of %s failed", writer.rid)
        await writer.error(f"generation failed: {exc}", retriable=True, code="generation_failed")
    if cancelled:
        await writer.cancelled()


def register(app: faust.App, settings: Settings) -> None:
    requests = app.topic(
        settings.requests_topic,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(requests, name="generation")
    async def generate(stream: faust.StreamT[bytes]) -> None:
        limit = asyncio.Semaphore(settings.generation_concurrency)
        running: dict[str, tuple[asyncio.Task[None], dict[str, Any]]] = {}
        async with Publisher(settings) as publisher:
            try:
                async for value in stream:
                    try:
                        request = orjson.loads(value)
                        rid = str(request["rid"])
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        log.warning("dropping malformed request %r", value[:200])
                        continue
                    if request.get("action") == "cancel":
                        # Requests are keyed by response id, so the cancel reaches the worker
                        # that took the request; anything else has already finished.
                        if rid in running:
                            task, original = running[rid]
                            original["cancel_requested"] = True
                            task.cancel()
                        continue
                    await limit.acquire()
                    task = asyncio.create_task(
                        _guarded(run_demo(publisher.response(rid), request, settings), limit)
                    )
                    running[rid] = (task, request)
                    task.add_done_callback(lambda _, r=rid: running.pop(r, None))
            finally:
                for task, _ in running.values():
                    task.cancel()


async def _guarded(call: Any, limit: asyncio.Semaphore) -> None:
    try:
        await call
    finally:
        limit.release()
