"""The tokenrelay client: create responses and read their events, resuming across drops.

    from app.client import Client

    with Client() as client:
        created = client.create(model="demo", input="Explain consumer groups.")
        for event in client.events(created):
            print(event.text, end="", flush=True)

docs/client.md has the rest: AsyncClient, views, several streams at once, errors, auth.
"""

from app.client.aio import AsyncClient, AsyncEventStream
from app.client.base import default_url
from app.client.errors import (
    ApiError,
    AuthError,
    BadRequest,
    ClientError,
    Forbidden,
    GapError,
    NotRetained,
    ProtocolError,
    RateLimited,
    RetriesExhausted,
    StreamError,
    Unauthorized,
    Unavailable,
    UnknownResponse,
)
from app.client.events import Cancelled, Created, Event, Snapshot
from app.client.resume import Backoff
from app.client.sync import Client, EventStream

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncEventStream",
    "AuthError",
    "Backoff",
    "BadRequest",
    "Cancelled",
    "Client",
    "ClientError",
    "Created",
    "Event",
    "EventStream",
    "Forbidden",
    "GapError",
    "NotRetained",
    "ProtocolError",
    "RateLimited",
    "RetriesExhausted",
    "Snapshot",
    "StreamError",
    "Unauthorized",
    "Unavailable",
    "UnknownResponse",
    "default_url",
]
