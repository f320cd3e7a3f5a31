"""Who may call what on the edge (docs/security.md), one decorator per endpoint:

    writes               cancel, /v1/stats, /metrics, POST /v1/read_tokens: an API key
    creates              POST /v1/responses: an API key with a free in-progress slot (429)
    reads_response       a response's events (any view) and snapshot: a key, or its read token
    reads_streams        GET /v1/events?streams=: a key, or tokens covering every response
    reads_conversation   a conversation's turns and events: a key, or its conversation token

A key goes in `Authorization: Bearer`, never in a URL; a read token there or in `?token=`
(EventSource cannot set headers), repeated or comma-separated for several. A stream read with
tokens ends cleanly at the first write after the earliest one's expiry (within a heartbeat):
the client resumes from Last-Event-ID with a fresh token (`POST /v1/read_tokens`, key held by
its backend). TOKENRELAY_AUTH=off: `access` is None, every check passes, no token is issued.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth import keys
from app.auth.keys import Key
from app.auth.tokens import ReadTokens, conversation_scope, response_scope
from app.auth.tokens import load as tokens_of
from app.edge import multiplex
from app.edge.expiring import Expiring
from app.edge.fanout import Fanout
from app.edge.inflight import Slots, Ticket
from app.edge.keycache import KeyCache
from app.edge.stream import EventStream
from app.errors import BadRequest, Forbidden, Unauthorized, Unavailable
from app.settings import Settings
from app.storage.keys import Keys
from app.storage.store import Store

if TYPE_CHECKING:
    from app.edge.continuation import Continued

log = logging.getLogger(__name__)
# An endpoint answers with a Response, or an EventStream (an ASGI app of its own) for SSE.
Handler = Callable[[Request], Awaitable[Response | EventStream]]
MAX_TOKENS = 64  # read tokens one request may bring (a multiplexed stream's, at most)
MAX_MINT_BODY = 4096
IDS = ("response_id", "conversation_id")


@dataclass(frozen=True, slots=True)
class Access:
    """The edge's checks, built in its lifespan (None when TOKENRELAY_AUTH=off)."""

    keys: KeyCache
    tokens: ReadTokens
    slots: Slots


def start(
    settings: Settings, tokens: ReadTokens | None, store: Store, fanout: Fanout
) -> Access | None:
    """The edge's checks; None (and a loud warning) when TOKENRELAY_AUTH=off."""
    if tokens is None:
        log.warning(
            "WARNING: TOKENRELAY_AUTH=off: this edge serves everyone, no API key or read token "
            "is asked for. For local experiments only (docs/security.md)."
        )
        return None

    def finished(rid: str) -> bool | None:
        tracked = fanout.responses.get(rid)
        if tracked is not None:
            return bool(tracked.final_seq)
        return True if rid in fanout.directory else None

    cache = KeyCache(Keys(store.engine).find, settings.auth_cache_s)
    return Access(cache, tokens, Slots(settings.key_max_responses, finished))


def read_tokens(settings: Settings) -> ReadTokens | None:
    """The read tokens' secrets, loaded before the edge starts (a bad one stops it there)."""
    return None if settings.auth == "off" else tokens_of(settings)


def writes(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response | EventStream:
        request.state.key = await _api_key(request)
        return await handler(request)

    return endpoint


def creates(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response | EventStream:
        key = request.state.key = await _api_key(request)
        access = _access(request)
        if access is None or key is None:
            return await handler(request)
        ticket = request.state.ticket = access.slots.take(key.id)
        try:
            return await handler(request)
        finally:
            if ticket.rid is None:  # it created nothing: the slot is free again
                access.slots.drop(ticket)

    return endpoint


def reads_response(handler: Handler) -> Handler:
    return _reads(handler, lambda r: [response_scope(r.path_params["rid"])])


def reads_streams(handler: Handler) -> Handler:
    def wanted(request: Request) -> list[str]:
        limit = request.app.state.edge.settings.edge_max_streams
        rids = multiplex.parse_streams(request.query_params.get("streams"), limit)
        return [response_scope(rid) for rid in rids]

    return _reads(handler, wanted)


def reads_conversation(handler: Handler) -> Handler:
    return _reads(handler, lambda r: [conversation_scope(r.path_params["cid"])])


def issued(request: Request, rid: str, continued: Continued | None) -> dict[str, Any]:
    """The create answer's tokens (none with auth off); the response now holds its slot."""
    access = _access(request)
    if access is None:
        return {}
    ticket: Ticket | None = getattr(request.state, "ticket", None)
    if ticket is not None:
        access.slots.bind(ticket, rid)
    token, expires_ms = access.tokens.issue(response_scope(rid))
    out: dict[str, Any] = {"read_token": token, "read_token_expires_ms": expires_ms}
    if continued is not None:
        token, expires_ms = access.tokens.issue(conversation_scope(continued.conversation_id))
        out.update(conversation_token=token, conversation_token_expires_ms=expires_ms)
    return out


def who(request: Request) -> dict[str, str | None]:
    """The caller for the audit log: the key's name and id (None with auth off)."""
    key: Key | None = getattr(request.state, "key", None)
    return {"who": None if key is None else key.name, "key_id": None if key is None else key.id}


@writes
async def mint(request: Request) -> Response:
    """POST /v1/read_tokens {"response_id"} or {"conversation_id"}: a fresh token, for a backend
    holding a key to hand a reader whose token expired."""
    access = _access(request)
    if access is None:
        raise BadRequest("TOKENRELAY_AUTH is off: reads need no token")
    body = await request.body()
    try:
        obj = orjson.loads(body) if len(body) <= MAX_MINT_BODY else None
    except orjson.JSONDecodeError:
        obj = None
    named = {k: v for k, v in obj.items() if k in IDS} if isinstance(obj, dict) else {}
    if len(named) != 1:
        raise BadRequest('give {"response_id": ID} or {"conversation_id": ID}')
    (field, value), = named.items()  # fmt: skip
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        raise BadRequest(f"{field} must be an id")
    if field == "response_id":
        token, expires_ms = access.tokens.issue(response_scope(value))
        return JSONResponse({"read_token": token, "read_token_expires_ms": expires_ms})
    token, expires_ms = access.tokens.issue(conversation_scope(value))
    return JSONResponse({"conversation_token": token, "conversation_token_expires_ms": expires_ms})


def _access(request: Request) -> Access | None:
    access: Access | None = request.app.state.edge.access
    return access


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Authorization must be `Bearer <API key or read token>`")
    return value.strip()


async def _api_key(request: Request) -> Key | None:
    access = _access(request)
    if access is None:
        return None
    credential = _bearer(request)
    if credential is None:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>", presented=False)
    if not keys.plausible(credential):
        raise Unauthorized("this needs an API key; a read token only reads")
    return await _check_key(access, credential)


async def _check_key(access: Access, credential: str) -> Key:
    try:
        key = await access.keys.get(keys.digest(credential))
    except (SQLAlchemyError, OSError) as exc:
        raise Unavailable(f"the key store is not reachable: {exc.__class__.__name__}") from None
    if key is None:
        raise Unauthorized("unknown API key")
    if key.revoked:
        raise Unauthorized("API key revoked")
    return key


def _reads(handler: Handler, wanted: Callable[[Request], list[str]]) -> Handler:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response | EventStream:
        until = await _read_grant(request, wanted)
        response = await handler(request)
        if until is not None and isinstance(response, EventStream):
            response.body = Expiring(response.body, until)
        return response

    return endpoint


async def _read_grant(request: Request, wanted: Callable[[Request], list[str]]) -> float | None:
    """None when nothing expires (auth off, or an API key); else when the tokens used expire.
    Raises Unauthorized for no credential or a bad one, Forbidden for a scope not covered."""
    access = _access(request)
    if access is None:
        return None
    header = _bearer(request)
    if header is not None and keys.plausible(header):
        await _check_key(access, header)  # a key reads everything
        return None
    given = [t for v in request.query_params.getlist("token") for t in v.split(",") if t]
    if any(keys.plausible(t) for t in given):
        raise Unauthorized("an API key goes in the Authorization header, never in a URL")
    if header is not None:
        given.append(header)
    if not given:
        raise Unauthorized(
            "a read token (Authorization: Bearer, or ?token=) or an API key is required",
            presented=False,
        )
    if len(given) > MAX_TOKENS:
        raise BadRequest(f"at most {MAX_TOKENS} read tokens per request")
    grants = [access.tokens.check(token) for token in given]
    held = {g.scope for g in grants}
    for scope in wanted(request):
        if scope not in held:
            raise Forbidden(f"no read token given covers {scope[:300]}")
    return min(g.expires_ms for g in grants)
