"""Reading tokenrelay through a proxy (test_nginx.py, test_buffering_proxy.py): a response
written in lockstep with its reader, to see whether each event passes the proxy at once, and a
finished response to read whole."""

from __future__ import annotations

import asyncio

import httpx

from app.ids import new_response_id
from app.producer import Publisher
from app.settings import Settings

from .sse import SseRead, client_for, read_events


async def lockstep(
    url: str, settings: Settings, deltas: int, timeout_s: float
) -> tuple[int, SseRead]:
    """A new response: publish a delta, wait for the reader at `url` to get it, then the next;
    then end the response and let the reader finish. How many deltas arrived before the next
    was written (stopping at the first that did not within `timeout_s`), and the whole read."""
    pub = Publisher(settings)
    await pub.start()
    read = SseRead(0, httpx.Headers())
    in_time = 0
    try:
        writer = pub.response(new_response_id())
        await writer.open()
        async with client_for(url) as client:
            reader = asyncio.create_task(read_events(client, writer.rid, into=read, timeout_s=60))
            try:
                for i in range(deltas):
                    await writer.delta(f"token{i} ")
                    await writer.flush()
                    if not await arrived(read, i + 1, timeout_s):
                        break
                    in_time += 1
                await writer.done()
                await writer.flush()
                await asyncio.wait_for(asyncio.shield(reader), 30)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    finally:
        await pub.stop()
    return in_time, read


async def arrived(read: SseRead, count: int, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            while len(read.events) < count:  # noqa: ASYNC110 (the reader appends; no event)
                await asyncio.sleep(0.01)
        return True
    except TimeoutError:
        return False


async def finished_response(settings: Settings, deltas: int, repeat: int = 10) -> str:
    """A response of `deltas` events (each `repeat` words), ended and stored."""
    pub = Publisher(settings)
    await pub.start()
    try:
        writer = pub.response(new_response_id())
        await writer.open()
        for i in range(deltas):
            await writer.delta(f"word{i} " * repeat)
            await writer.flush()  # one event each: no coalescing
        await writer.done()
        await writer.flush()
    finally:
        await pub.stop()
    return writer.rid
