"""What one request and one client may take of an edge: the characters of a request's input, and
the SSE connections open at once per client address and per presented credential.

Connections are counted on this edge only, from the moment a streaming endpoint is entered until
its stream ends, however it ends (client gone, terminal event, send timeout, shutdown), or at
once when the endpoint answers anything else (an error, a 204). docs/limits.md
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from app.contract.requests import Call
from app.edge import client
from app.edge.stream import EventStream
from app.errors import InputTooLong, TooManyConnections
from app.settings import Settings

# A slot frees when one of the client's own streams ends, which the edge cannot foresee; a few
# seconds is about one EventSource reconnect delay, so a polite client does not spin.
RETRY_AFTER_S = 5.0
Endpoint = Callable[[Request], Awaitable[Response | EventStream]]
# Keys of content parts and tool calls that label rather than carry content: not counted.
LABELS = frozenset({"type", "id"})


def check_input(calls: Iterable[Call], limit: int) -> None:
    """Raises InputTooLong (413) when the calls' messages hold over `limit`
    characters: content strings, content parts' strings (a data URL counts), tool calls' names
    and arguments."""
    total = sum(_chars(m.get("content")) + _chars(m.get("tool_calls")) for c in calls
                for m in c.messages)  # fmt: skip
    if total > limit:
        raise InputTooLong(f"the request's input is {total} characters, over this edge's {limit}")


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_chars(v) for k, v in value.items() if k not in LABELS)
    if isinstance(value, list | tuple):
        return sum(_chars(v) for v in value)
    return 0


class Tally:
    """Open connections per key, at most `limit` each (0: no limit). A key leaves the map when
    its count is back at zero, so the map holds only keys with a connection open now."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def take(self, key: str) -> bool:
        held = self.counts.get(key, 0)
        if self.limit and held >= self.limit:
            return False
        self.counts[key] = held + 1
        return True

    def give(self, key: str) -> None:
        held = self.counts.get(key, 0)
        if held <= 1:
            self.counts.pop(key, None)
        else:
            self.counts[key] = held - 1


class Slot:
    """One admitted connection; `release` gives its counts back, once however often called."""

    def __init__(self, taken: list[tuple[Tally, str]]) -> None:
        self._taken = taken

    def release(self) -> None:
        taken, self._taken = self._taken, []
        for tally, key in taken:
            tally.give(key)


class Connections:
    """This edge's open SSE connections per client address and per presented credential."""

    def __init__(self, settings: Settings) -> None:
        self.clients = Tally(settings.edge_max_connections_per_client)
        self.tokens = Tally(settings.edge_max_connections_per_token)
        self.proxies = client.trusted(settings.edge_trusted_proxies)

    def admit(self, conn: HTTPConnection) -> Slot:
        """A slot for one more connection of this client; raises TooManyConnections (429) if it
        has its share open already, taking nothing then."""
        taken: list[tuple[Tally, str]] = []
        where = client_key(client.address(conn, self.proxies))
        if where is not None:
            if not self.clients.take(where):
                raise TooManyConnections(self._refusal("client address", self.clients),
                                         RETRY_AFTER_S)  # fmt: skip
            taken.append((self.clients, where))
        token = credential(conn)
        if token is not None:
            if not self.tokens.take(token):
                Slot(taken).release()
                raise TooManyConnections(self._refusal("credential", self.tokens), RETRY_AFTER_S)
            taken.append((self.tokens, token))
        return Slot(taken)

    @staticmethod
    def _refusal(what: str, tally: Tally) -> str:
        return f"this {what} has {tally.limit} event streams open on this edge already"


def client_key(address: str | None) -> str | None:
    """The address connections are counted under. An IPv6 host usually holds a whole /64 and
    can pick any address in it, so IPv6 is counted per /64."""
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a proxy's odd X-Forwarded-For): counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def credential(conn: HTTPConnection) -> str | None:
    """A hash of the bearer token presented (`Authorization: Bearer X`, else `?token=X`), or
    None. Counted by hash: the map never holds a credential, and a key is 32 characters
    whatever was sent. Whether the token is valid is not this module's business."""
    scheme, _, token = conn.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = conn.query_params.get("token", "")
    token = token.strip()
    if not token:
        return None
    return hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


def counted(endpoint: Endpoint) -> Endpoint:
    """A streaming endpoint under the edge's connection limits (`edge.connections`)."""

    @functools.wraps(endpoint)
    async def limited(request: Request) -> Response | EventStream:
        connections: Connections = request.app.state.edge.connections
        slot = connections.admit(request)
        try:
            response = await endpoint(request)
        except BaseException:
            slot.release()
            raise
        if isinstance(response, EventStream):
            response.on_close.append(slot.release)  # runs however the stream ends
        else:
            slot.release()
        return response

    return limited
