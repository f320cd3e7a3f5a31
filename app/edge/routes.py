"""Thin HTTP endpoints of the edge. Faults from the error tree become JSON errors here."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from contextlib import aclosing
from pathlib import Path
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from confluent_kafka import KafkaException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app import cache, events, logs, tracing
from app import views as app_views
from app.catalog import Catalog
from app.contract import requests
from app.contract.control import CANCEL, Control
from app.edge import (
    access,
    client,
    continuation,
    conversations,
    limits,
    multiplex,
    openapi,
    sse,
    withhold,
)
from app.edge.resume import Body, Reader, wire
from app.edge.state import EdgeState
from app.edge.stream import EventStream
from app.edge.tracked import SEQ, SOURCE, TEXT, Tracked, view_key
from app.errors import (
    BadRequest,
    BodyTooLarge,
    HTTPFault,
    TokenRelayError,
    Unavailable,
    UnknownResponse,
)
from app.ids import new_response_id
from app.producer import MAX_RECORD_BYTES, RECORD_OVERHEAD, too_large
from app.request.calls import parse_calls

STATIC = Path(__file__).resolve().parent.parent / "static"
# A POST waits this long for Kafka to store its records, then answers 503.
log = logging.getLogger(__name__)
KAFKA_WRITE_TIMEOUT_S = 10.0
KAFKA_FAULTS = (KafkaError, KafkaException, BufferError, TimeoutError)
DIGITS = re.compile(r"[0-9]{1,18}")


def _state(request: Request) -> EdgeState:
    state: EdgeState = request.app.state.edge
    return state


@tracing.server_span("POST /v1/responses")
@access.creates
async def create_response(request: Request) -> Response:
    edge = _state(request)
    body = await _json_body(request, edge.settings.edge_max_body)
    calls = parse_calls(body, edge.settings.generation_max_calls)
    limits.check_input(calls, edge.settings.edge_max_input_chars)
    views, options = app_views.parse(body, calls)
    ask = cache.parse(body)
    catalog = Catalog(edge.settings)
    for call in calls:
        catalog.check(call.model)
    calls, continued = await continuation.of_request(edge, body, calls)  # stored turns first
    writer = edge.publisher.response(new_response_id())
    logs.bind(writer.rid)
    wire_calls = [c.to_dict() for c in calls]
    # A hit is decided here, before `open`, so every record of the response says `cached`.
    hit = None
    if ask is not None and edge.cache is not None:
        hit = await edge.cache.lookup(wire_calls, ask)
    if hit is not None:
        writer.cached_from = hit.rid
    if continued is not None:
        writer.conversation = continued.index
    who = access.who(request)
    record = requests.Request(
        writer.rid,
        wire_calls,
        client=_client(edge, request),  # for the audit log (app/audit.py)
        who=who["who"],
        key_id=who["key_id"],
        views=tuple(views),
        conversation=continued.record if continued is not None else None,
        cache_hit=hit.to_dict() if hit is not None else None,
    ).encode()
    if len(record) > MAX_RECORD_BYTES - RECORD_OVERHEAD:  # a body under the edge's limit, over
        # Kafka's for one record (the calls re-encoded, a conversation's context prepended)
        raise BodyTooLarge(f"the request is over {MAX_RECORD_BYTES} bytes as a Kafka record")

    async def send_request() -> None:  # a coroutine: a send refused at once raises in gather
        await edge.publisher.send(
            edge.settings.requests_topic, writer.rid, record, partition=writer.partition,
            headers=edge.tracing.headers(),  # the POST span's context, to the generation's
        )  # fmt: skip

    try:
        async with asyncio.timeout(KAFKA_WRITE_TIMEOUT_S):
            # The index's `open` (readers find the response at once) and the request, sent
            # together: one wait for Kafka instead of two (~4 ms of every first token). If only
            # the request is stored, the client gets 503 and the response runs unread.
            await asyncio.gather(writer.open(views, options), send_request())
    except KAFKA_FAULTS as exc:
        if too_large(exc):  # a broker whose limit is under the producer's
            raise BodyTooLarge("the request is over Kafka's record size limit") from None
        raise Unavailable(f"Kafka is not reachable: {exc!r}") from None
    edge.metrics.responses.inc()
    answer: dict[str, Any] = {
        "id": writer.rid,
        "events_url": f"/v1/responses/{writer.rid}/events",
        "status": "in_progress",
    }
    if ask is not None:
        answer["cached"] = hit is not None
    if hit is not None:
        answer["cached_from"] = hit.rid
    if continued is not None:
        answer.update(continued.answer())
    answer.update(access.issued(request, writer.rid, continued))
    return JSONResponse(answer, status_code=201)


@access.reads_response
async def stream_events(request: Request) -> Response | EventStream:
    edge = _state(request)
    after = sse.parse_cursor(
        request.headers.get("last-event-id"), request.query_params.get("after")
    )
    tracked = await _find(edge, request.path_params["rid"])
    view = request.query_params.get("view")
    asked = await edge.locator.views(tracked)
    if view is not None:
        tracked = _view(edge, tracked, view)
    withhold.check(asked, request.path_params["rid"], view)
    feed = await _reader(edge).open(tracked, after)
    if feed is None:
        return Response(status_code=204)
    return _sse(edge, wire(feed))


def _view(edge: EdgeState, raw: Tracked, view: str) -> Tracked:
    if view not in app_views.names():
        raise BadRequest(f"unknown view {view[:64]!r}; views are {', '.join(app_views.names())}")
    if raw.views is not None and view not in raw.views:
        raise UnknownResponse(f"response {raw.rid[:200]!r} did not ask for the view {view!r}")
    if raw.archived:  # only storage has it: so its views (history.py reads them there)
        return Tracked(view_key(raw.rid, view), raw.partition, raw.created, archived=True)
    return edge.fanout.view_stream(raw, view)


def _reader(edge: EdgeState) -> Reader:
    return Reader(edge.fanout, edge.history, edge.metrics, edge.settings.heartbeat_s)


def _sse(edge: EdgeState, body: Body[bytes]) -> EventStream:
    # The body is closed however the stream ends, which releases its subscriptions.
    return EventStream(body, edge.streams, edge.settings.edge_send_timeout_s)


@access.reads_streams
async def stream_many(request: Request) -> Response | EventStream:
    """Several responses on one connection (multiplex.py); statuses as on the single stream."""
    edge = _state(request)
    streams = multiplex.parse_streams(
        request.query_params.get("streams"), edge.settings.edge_max_streams
    )
    positions = multiplex.resume_at(streams, request.headers.get("last-event-id"))
    found = await asyncio.gather(*(_find(edge, rid) for rid in positions), return_exceptions=True)
    for result in found:
        if isinstance(result, BaseException):
            raise result
    tracked = [t for t in found if isinstance(t, Tracked)]
    for t in tracked:
        withhold.check(await edge.locator.views(t), t.rid, None)
    mux = multiplex.Multiplex(_reader(edge), edge.settings.heartbeat_s)
    body = await mux.open([(t, positions[t.rid]) for t in tracked])
    if body is None:
        return Response(status_code=204)
    return _sse(edge, body)


@access.reads_response
async def snapshot(request: Request) -> Response:
    edge = _state(request)
    tracked = await _find(edge, request.path_params["rid"])
    # A moderated response's text is only served through its moderated view.
    hidden = not withhold.served(await edge.locator.views(tracked), None)
    sources: dict[str, list[str]] = {}
    last_seq = 0
    frames = tracked.frames_after(0)
    if frames is None:
        async with aclosing(edge.history.read(tracked, 0)) as batches:
            frames = [f async for batch in batches for f in batch]
    for frame in frames:
        last_seq = frame[SEQ]
        parts = sources.setdefault(frame[SOURCE], [])
        if frame[TEXT] is not None and not hidden:
            parts.append(frame[TEXT])
    status = (
        tracked.status if tracked.final_seq and last_seq >= tracked.final_seq else "in_progress"
    )
    body = {
        "id": tracked.rid,
        "status": status,
        "last_seq": last_seq,
        "sources": {} if hidden else {s: "".join(parts) for s, parts in sources.items()},
    }
    if hidden:
        body["moderated_url"] = withhold.moderated_url(tracked.rid)
    if tracked.cached_from is not None:
        body["cached"] = True
        body["cached_from"] = tracked.cached_from
    return JSONResponse(body)


@access.writes
async def cancel(request: Request) -> Response:
    edge = _state(request)
    tracked = await _find(edge, request.path_params["rid"])
    # Who cancelled what and when, for the audit log (the persist agent reads the topic too).
    who = access.who(request)
    # Decided before the send: the cancel's own `cancelled` event can reach this edge before
    # Kafka's acknowledgement of the cancel does, and then it looked already over (cancelled:
    # False) though this cancel ended it (a clean-clone run of test_cli found it).
    over, status = bool(tracked.final_seq), tracked.status
    action = Control(tracked.rid, CANCEL, _client(edge, request), events.now_ms(),
                     not over, who["who"], who["key_id"])  # fmt: skip
    try:
        # Every worker reads the whole control topic; the one running the response stops it.
        async with asyncio.timeout(KAFKA_WRITE_TIMEOUT_S):
            await edge.publisher.send(edge.settings.control_topic, tracked.rid, action.encode())
    except KAFKA_FAULTS as exc:
        if over:  # nothing to stop: only the audit record of the attempt is lost
            log.warning("cancel of finished %s not recorded: %r", tracked.rid, exc)
        else:
            raise Unavailable(f"Kafka is not reachable: {exc!r}") from None
    if over:
        # Already over: nothing stops (workers ignore it), and the answer says how it ended.
        return JSONResponse({"id": tracked.rid, "status": status, "cancelled": False})
    return JSONResponse(
        {"id": tracked.rid, "status": "cancelling", "cancelled": True}, status_code=202
    )


async def list_models(request: Request) -> Response:
    return JSONResponse({"models": Catalog(_state(request).settings).names()})


async def healthz(request: Request) -> Response:
    edge = _state(request)
    if edge.streams.draining:  # SIGTERM: a balancer takes this edge out at once
        return JSONResponse({"live": False}, status_code=503)
    live = edge.fanout.live
    return JSONResponse({"live": live}, status_code=200 if live else 503)


@access.writes
async def stats_report(request: Request) -> Response:
    """Per-model stats of the last `?minutes=` (default: all the edge keeps)."""
    window = _state(request).stats
    raw = request.query_params.get("minutes")
    minutes = window.minutes
    if raw is not None:
        # ASCII digits only: str.isdigit() also holds for "²", which int() refuses (a 500).
        if not DIGITS.fullmatch(raw) or not 1 <= int(raw) <= window.minutes:
            raise BadRequest(f"minutes must be a whole number from 1 to {window.minutes}")
        minutes = int(raw)
    return JSONResponse(window.report(minutes))


@access.writes
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


def _client(edge: EdgeState, request: Request) -> str | None:
    return client.address(request, client.trusted(edge.settings.edge_trusted_proxies))


async def _find(edge: EdgeState, rid: str) -> Tracked:
    tracked = await edge.locator.find(rid, edge.settings.edge_unknown_wait_ms / 1000)
    if tracked is None:
        raise UnknownResponse(f"no response with id {rid[:200]!r}")
    return tracked


async def _json_body(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if DIGITS.fullmatch(declared) and int(declared) > limit:
        raise BodyTooLarge(f"request body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body is over {limit} bytes")
        chunks.append(chunk)
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def on_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, TokenRelayError):
        headers = dict(getattr(exc, "headers", {}))  # WWW-Authenticate of 401 and 403
        retry_after = getattr(exc, "retry_after", None)  # a 429's (errors.TooMany)
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return error_response(exc.status, exc.code, str(exc), headers)
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code, HTTPFault.code, str(exc.detail))
    if isinstance(exc, KAFKA_FAULTS):
        kafka = "Kafka is not reachable right now"
        return error_response(Unavailable.status, Unavailable.code, kafka)
    raise exc


ROUTES = [
    Route("/", index),
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/{rid}/events", limits.counted(stream_events)),
    Route("/v1/responses/{rid}", snapshot),
    Route("/v1/responses/{rid}/cancel", cancel, methods=["POST"]),
    Route("/v1/events", limits.counted(stream_many)),
    Route("/v1/read_tokens", access.mint, methods=["POST"]),
    Route("/v1/conversations/{cid}", conversations.list_turns),
    Route("/v1/conversations/{cid}/events", limits.counted(conversations.stream_turns)),
    Route("/v1/models", list_models),
    Route("/v1/stats", stats_report),
    Route("/healthz", healthz),
    Route("/metrics", metrics),
    Route("/openapi.json", openapi.serve),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
EXCEPTION_HANDLERS = {
    TokenRelayError: on_error,
    HTTPException: on_error,
    **{fault: on_error for fault in KAFKA_FAULTS},
}
