"""What Client and AsyncClient share: where the edge is, which credential goes with which call,
each endpoint's request and how its answer is read. Only the I/O differs (sync.py, aio.py).

Credentials (docs/client.md): the API key goes with writes (create, cancel, stats). Reads (a
stream, a snapshot) use a read token when there is one (the caller's, else the one the create
answer carried, remembered per response), else the API key. With auth off neither is needed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from app.client.errors import ProtocolError, error_for
from app.client.events import Created
from app.client.resume import Backoff, Positions, Resume
from app.settings import Settings

URL_ENV = "TOKENRELAY_URL"
KEY_ENV = "TOKENRELAY_API_KEY"
TIMEOUT_S = 30.0
# A stream's read timeout: the edge pings an idle stream every TOKENRELAY_HEARTBEAT_S (15 s),
# so this long without a byte is a dead connection, and the client resumes elsewhere.
READ_TIMEOUT_S = 60.0
REMEMBERED_TOKENS = 4096  # read tokens from create answers, most recent kept
Response = str | Created  # a response is named by its id or by its create answer
USER_AGENT = "tokenrelay-client/0.1"


def default_url(environ: Mapping[str, str] | None = None) -> str:
    """`TOKENRELAY_URL`, else the edge's own settings (`TOKENRELAY_EDGE_HOST` / `_PORT`)."""
    environ = os.environ if environ is None else environ
    if environ.get(URL_ENV):
        return environ[URL_ENV].rstrip("/")
    settings = Settings.from_env(environ)
    host = settings.edge_host
    if host in ("", "0.0.0.0", "::"):  # a listen-everywhere address: connect locally
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.edge_port}"


@dataclass(frozen=True, slots=True)
class Call:
    """One plain (non-stream) HTTP call, ready for either client to send."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass(frozen=True, slots=True)
class Plan:
    """One logical stream: where to GET it and its resume state (cursor, backoff, auth)."""

    path: str
    params: dict[str, str]
    resume: Resume
    timeout: httpx.Timeout


class Base:
    def __init__(
        self, base_url: str | None, api_key: str | None, token: str | None,
        backoff: Backoff | None, timeout_s: float, read_timeout_s: float,
    ) -> None:  # fmt: skip
        self.base_url = (base_url or default_url()).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(KEY_ENV) or None
        self.token = token  # a read token for every read of this client (a browser's backend)
        self.backoff = backoff or Backoff()
        self.timeout = httpx.Timeout(timeout_s)
        self.stream_timeout = httpx.Timeout(timeout_s, read=read_timeout_s)
        self._tokens: OrderedDict[str, str] = OrderedDict()

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT},
        }

    # -- credentials --------------------------------------------------------------------------

    def _remember(self, created: Created) -> None:
        if created.read_token:
            self._tokens[created.id] = created.read_token
            self._tokens.move_to_end(created.id)
            while len(self._tokens) > REMEMBERED_TOKENS:
                self._tokens.popitem(last=False)

    def _rid(self, response: Response) -> str:
        if isinstance(response, Created):
            self._remember(response)
            return response.id
        return response

    def _read_tokens(self, rids: Iterable[str], token: str | None) -> list[str]:
        """The read tokens covering `rids`; [] when some are missing (the API key reads)."""
        if token or self.token:
            return [token or self.token or ""]
        found = [self._tokens.get(rid) for rid in rids]
        return [t for t in found if t] if all(found) else []

    def _write_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _read_headers(self, tokens: list[str]) -> dict[str, str]:
        credential = tokens[0] if tokens else self.api_key
        return {"Authorization": f"Bearer {credential}"} if credential else {}

    # -- requests -----------------------------------------------------------------------------

    def _create_call(self, request: Mapping[str, Any] | None, fields: dict[str, Any]) -> Call:
        body = {**(request or {}), **fields}
        return Call("POST", "/v1/responses", self._write_headers(), json=body)

    def _snapshot_call(self, rid: str, tokens: list[str]) -> Call:
        return Call("GET", f"/v1/responses/{_quote(rid)}", self._read_headers(tokens))

    def _cancel_call(self, rid: str) -> Call:
        return Call("POST", f"/v1/responses/{_quote(rid)}/cancel", self._write_headers())

    def _models_call(self) -> Call:
        return Call("GET", "/v1/models")

    def _stats_call(self, minutes: int | None) -> Call:
        params = {} if minutes is None else {"minutes": str(minutes)}
        return Call("GET", "/v1/stats", self._write_headers(), params)

    def _events_plan(self, rid: str, after: int, view: str | None, token: str | None) -> Plan:
        params = {} if view is None else {"view": view}
        resume = Resume(
            Positions({rid: after}, multiplexed=False), self.backoff,
            self._read_tokens([rid], token), self.api_key,
        )  # fmt: skip
        return Plan(f"/v1/responses/{_quote(rid)}/events", params, resume, self.stream_timeout)

    def _many_plan(
        self, streams: Mapping[str, int] | Iterable[Response], token: str | None
    ) -> Plan:
        if isinstance(streams, Mapping):
            start = {self._rid(r): int(after) for r, after in streams.items()}
        else:
            start = {self._rid(r): 0 for r in streams}
        if not start:
            raise ValueError("name at least one response to read")
        positions = Positions(start, multiplexed=True)
        resume = Resume(positions, self.backoff, self._read_tokens(start, token), self.api_key)
        # The query names the streams; the Last-Event-ID vector (resume.headers) their positions.
        query = ",".join(f"{rid}:{after}" for rid, after in start.items())
        return Plan("/v1/events", {"streams": query}, resume, self.stream_timeout)

    # -- answers ------------------------------------------------------------------------------

    def _created(self, response: httpx.Response) -> Created:
        created = Created.from_data(answer(response))
        self._remember(created)
        return created


def answer(response: httpx.Response) -> Any:
    """The JSON body of a successful answer; the matching ApiError otherwise."""
    if not 200 <= response.status_code < 300:
        raise error_for(response.status_code, response.headers, response.content)
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(f"{response.request.url.path}: the answer is not JSON") from None


def _quote(rid: str) -> str:
    return quote(rid, safe=":@")
