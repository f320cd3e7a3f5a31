"""Careless upstream errors, for the tests that keys stay secret: a 401 whose message quotes the
credential it was sent, and a 500 whose plain-text body dumps the request's headers, as some
OpenAI-compatible proxies and debug builds of model servers do. Scenarios `http401`, `http500`.
"""

from __future__ import annotations

import json
from typing import Protocol

CREDENTIALS = ("authorization", "x-api-key")


class Seen(Protocol):
    headers: dict[str, str]


class Conn(Protocol):
    async def error(self, status: int, body: bytes, extra: list[tuple[str, str]]) -> None: ...


def presented(seen: Seen) -> str:
    return " ".join(seen.headers[h] for h in CREDENTIALS if h in seen.headers) or "none"


async def answer(name: str, conn: Conn, seen: Seen) -> bool:
    """Answer `name` if it is one of these scenarios; False if it is not."""
    if name == "http401":
        message = f"Incorrect API key provided: {presented(seen)}."
        body = {"error": {"type": "authentication_error", "message": message}}
        await conn.error(401, json.dumps(body).encode(), [])
        return True
    if name == "http500":
        # The credential first: the adapters quote at most the body's first 300 characters.
        dump = f"Internal Server Error, credential {presented(seen)!r}, headers {seen.headers!r}"
        await conn.error(500, dump.encode(), [("x-debug", presented(seen))])
        return True
    return False
