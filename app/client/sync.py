"""`Client`: the blocking tokenrelay client (httpx.Client). Its streams resume by themselves
across drops (resume.py); `AsyncClient` (aio.py) is the same API for asyncio."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from app.client.base import READ_TIMEOUT_S, TIMEOUT_S, Base, Call, Plan, Response, answer
from app.client.events import Cancelled, Created, Event, Snapshot
from app.client.resume import Backoff, Resume


class Client(Base):
    """`Client()` talks to `TOKENRELAY_URL` (else the edge's settings) with
    `TOKENRELAY_API_KEY`, unless given `base_url` / `api_key`. `transport` replaces the network
    (httpx.MockTransport in tests)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, token, backoff, timeout_s, read_timeout_s)
        self.http = httpx.Client(transport=transport, **self._client_options())
        self.sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def create(self, request: Mapping[str, Any] | None = None, /, **fields: Any) -> Created:
        """POST /v1/responses with `request` (a dict) and/or keyword fields:
        `create(model="demo", input="Hi", params={"tokens": 20})`."""
        return self._created(self._send(self._create_call(request, fields)))

    def events(
        self, response: Response, *, after: int = 0, view: str | None = None,
        token: str | None = None,
    ) -> EventStream:  # fmt: skip
        """The response's events after seq `after` (or its view's), to its terminal event."""
        plan = self._events_plan(self._rid(response), after, view, token)
        return EventStream(self.http, plan, self.sleep)

    def events_many(
        self, streams: Mapping[str, int] | Iterable[Response], *, token: str | None = None
    ) -> EventStream:
        """Several responses on one connection: `{rid: after}` or a list of responses (from
        their start). Each event's `rid` says whose it is; ends when every one has ended."""
        return EventStream(self.http, self._many_plan(streams, token),
                           self.sleep)  # fmt: skip

    def get(self, response: Response, *, token: str | None = None) -> Snapshot:
        rid = self._rid(response)
        tokens = self._read_tokens([rid], token)
        got = self._send(self._snapshot_call(rid, tokens))
        if got.status_code == 401 and tokens and self.api_key:  # an expired token: the key
            got = self._send(self._snapshot_call(rid, []))
        return Snapshot.from_data(answer(got))

    def cancel(self, response: Response) -> Cancelled:
        return Cancelled.from_data(answer(self._send(self._cancel_call(self._rid(response)))))

    def models(self) -> list[str]:
        return [str(m) for m in answer(self._send(self._models_call())).get("models", [])]

    def stats(self, minutes: int | None = None) -> dict[str, Any]:
        """GET /v1/stats (docs/analytics.md), as the edge sends it."""
        out: dict[str, Any] = answer(self._send(self._stats_call(minutes)))
        return out

    def _send(self, call: Call) -> httpx.Response:
        return self.http.request(
            call.method, call.path, headers=call.headers, params=call.params, json=call.json
        )


class EventStream:
    """Iterate it for `Event`s; it reconnects with Last-Event-ID whenever the connection drops
    and ends after the terminal event (or the edge's 204). Close it (or use `with`) to stop
    early: that closes the connection."""

    def __init__(self, http: httpx.Client, plan: Plan, sleep: Callable[[float], None]) -> None:
        self.resume: Resume = plan.resume
        self._events = self._run(http, plan, sleep)

    @property
    def last_event_id(self) -> str:
        """Where this stream stands: pass it back (`after=`, or as Last-Event-ID) to resume."""
        return self.resume.positions.last_event_id()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        self._events.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @staticmethod
    def _run(
        http: httpx.Client, plan: Plan, sleep: Callable[[float], None]
    ) -> Generator[Event, None, None]:
        resume = plan.resume
        while not resume.finished:
            params = {**plan.params, **resume.params()}
            cause = "the edge ended the stream before its terminal event"
            delay: float | None
            try:
                with http.stream(
                    "GET",
                    plan.path,
                    params=params,
                    headers=resume.headers(),
                    timeout=plan.timeout,
                ) as got:
                    if got.status_code != 200:
                        delay = resume.answer(got.status_code, got.headers, got.read())
                        if delay is None:
                            return
                        sleep(delay)
                        continue
                    resume.connected(got.headers.get("content-type", ""))
                    for chunk in got.iter_bytes():
                        yield from resume.feed(chunk)
                        if resume.finished:
                            return
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
            sleep(resume.dropped(cause))
