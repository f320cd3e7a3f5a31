"""`AsyncClient`: the asyncio tokenrelay client (httpx.AsyncClient), the same API as `Client`
(sync.py) with awaits; its streams are async iterators that resume by themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from app.client.base import READ_TIMEOUT_S, TIMEOUT_S, Base, Call, Plan, Response, answer
from app.client.events import Cancelled, Created, Event, Snapshot
from app.client.resume import Backoff, Resume


class AsyncClient(Base):
    """As `Client`; use it as `async with AsyncClient() as client:`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, token, backoff, timeout_s, read_timeout_s)
        self.http = httpx.AsyncClient(transport=transport, **self._client_options())
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def create(self, request: Mapping[str, Any] | None = None, /, **fields: Any) -> Created:
        return self._created(await self._send(self._create_call(request, fields)))

    def events(
        self, response: Response, *, after: int = 0, view: str | None = None,
        token: str | None = None,
    ) -> AsyncEventStream:  # fmt: skip
        plan = self._events_plan(self._rid(response), after, view, token)
        return AsyncEventStream(self.http, plan, self.sleep)

    def events_many(
        self, streams: Mapping[str, int] | Iterable[Response], *, token: str | None = None
    ) -> AsyncEventStream:
        return AsyncEventStream(self.http, self._many_plan(streams, token),
                                self.sleep)  # fmt: skip

    async def get(self, response: Response, *, token: str | None = None) -> Snapshot:
        rid = self._rid(response)
        tokens = self._read_tokens([rid], token)
        got = await self._send(self._snapshot_call(rid, tokens))
        if got.status_code == 401 and tokens and self.api_key:  # an expired token: the key
            got = await self._send(self._snapshot_call(rid, []))
        return Snapshot.from_data(answer(got))

    async def cancel(self, response: Response) -> Cancelled:
        got = await self._send(self._cancel_call(self._rid(response)))
        return Cancelled.from_data(answer(got))

    async def models(self) -> list[str]:
        return [str(m) for m in answer(await self._send(self._models_call())).get("models", [])]

    async def stats(self, minutes: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = answer(await self._send(self._stats_call(minutes)))
        return out

    async def _send(self, call: Call) -> httpx.Response:
        return await self.http.request(
            call.method, call.path, headers=call.headers, params=call.params, json=call.json
        )


class AsyncEventStream:
    """`async for event in stream`; resumes across drops, ends after the terminal event (or
    204). Stop early with `await stream.aclose()` or `async with stream:`."""

    def __init__(
        self, http: httpx.AsyncClient, plan: Plan, sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self.resume: Resume = plan.resume
        self._events = self._run(http, plan, sleep)

    @property
    def last_event_id(self) -> str:
        return self.resume.positions.last_event_id()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await anext(self._events)

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @staticmethod
    async def _run(
        http: httpx.AsyncClient, plan: Plan, sleep: Callable[[float], Awaitable[None]]
    ) -> AsyncGenerator[Event, None]:
        resume = plan.resume
        while not resume.finished:
            params = {**plan.params, **resume.params()}
            cause = "the edge ended the stream before its terminal event"
            try:
                async with http.stream(
                    "GET",
                    plan.path,
                    params=params,
                    headers=resume.headers(),
                    timeout=plan.timeout,
                ) as got:
                    if got.status_code != 200:
                        delay = resume.answer(got.status_code, got.headers, await got.aread())
                        if delay is None:
                            return
                        await sleep(delay)
                        continue
                    resume.connected(got.headers.get("content-type", ""))
                    async for chunk in got.aiter_bytes():
                        for event in resume.feed(chunk):
                            yield event
                        if resume.finished:
                            return
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
            await sleep(resume.dropped(cause))
