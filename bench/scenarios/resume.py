"""Resume: time from reconnect to the first missed event on a live stream, and time to replay a
finished N-event response from seq 0 to its end. tokenrelay and the peer only (the baseline
cannot resume)."""

# The peer cannot replay a finished stream at all (resumable-stream answers "already done"),
# so its replay is of a stream whose N events are all out but which is still open.

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from bench import persistlag, sseclient
from bench.context import Context
from bench.loadproc import LoadProc, run_probe
from bench.systems import TEXT, PeerSystem

READ_EVENTS = 5  # events read before each drop
GAP_MS = 300  # how long the reader stays away: ~9 events missed at 30/s
REPLAY_REPS = 3


async def run(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rate": ctx.mode.rate,
        "read_events": READ_EVENTS,
        "gap_ms": GAP_MS,
        "replay_events": ctx.mode.replay_events,
        "edge_ring_events": ctx.tokenrelay.settings.edge_buffer_events,
        "reconnect": {},
        "replay": {},
    }
    for name in ("tokenrelay", "peer"):
        if name in ctx.systems:
            out["reconnect"][name] = await _reconnect(ctx, name)
            ctx.log(f"resume {name}: {out['reconnect'][name]['ms']}")
            out["replay"][name] = await _replay(ctx, name)
            ctx.log(f"replay {name}: {out['replay'][name]['runs']}")
    if "tokenrelay" in ctx.systems:
        out["replay_stored"] = await _replay_stored(ctx, out["replay"]["tokenrelay"]["sid"])
        ctx.log(f"replay from storage: {out['replay_stored']['runs']}")
    ctx.write("resume", out)
    return out


async def _reconnect(ctx: Context, name: str) -> dict[str, Any]:
    m = ctx.mode
    per_rep_s = READ_EVENTS / m.rate + GAP_MS / 1000 + 0.3
    tokens = math.ceil(m.rate * (m.resume_reps + 1) * per_rep_s) + 30
    sid = ctx.label("resume")
    spec = {
        "task": "resume",
        "host": "127.0.0.1",
        "reps": m.resume_reps,
        "read_events": READ_EVENTS,
        "gap_ms": GAP_MS,
        "timeout_s": 120,
    }
    if name == "tokenrelay":
        producer = await _tokenrelay_producer(ctx, sid, tokens, m.rate)
        spec |= {
            "port": ctx.tokenrelay.port,
            "path": f"/v1/responses/{sid}/events",
            "cursor": "last-event-id",
        }
        try:
            return await run_probe(ctx.children, f"{sid}-probe", spec, 180)
        finally:
            producer.kill()  # the stream need not run to its end
    peer = ctx.systems["peer"]
    assert isinstance(peer, PeerSystem)
    sid = (await peer.prepare(sid, 1, tokens, m.rate, [0, 0])).ids[0]
    await peer.go(time.time() * 1000 + 200)
    spec |= {"port": peer.port, "path": f"/streams/{sid}", "cursor": "skip"}
    return await run_probe(ctx.children, f"{sid}-probe", spec, 180)


async def _replay(ctx: Context, name: str) -> dict[str, Any]:
    n = ctx.mode.replay_events
    sid = ctx.label("replay")
    if name == "tokenrelay":
        # n-1 deltas + done, each its own event (nothing coalesced), written flat out
        producer = await _tokenrelay_producer(ctx, sid, n - 1, 0.0, separate=True)
        await producer.result(300)
        port = ctx.tokenrelay.port
        t0 = time.monotonic()
        while True:  # until the edge has seen the end
            status, snap = await sseclient.get_json("127.0.0.1", port, f"/v1/responses/{sid}")
            if status == 200 and snap["status"] == "done":
                break
            if time.monotonic() - t0 > 300:
                raise RuntimeError(f"replay response {sid} not done after 300s: {snap}")
            await asyncio.sleep(0.2)
        settled_s = time.monotonic() - t0
        path = f"/v1/responses/{sid}/events"
    else:
        peer = ctx.systems["peer"]
        assert isinstance(peer, PeerSystem)
        sid = (await peer.prepare(sid, 1, n - 1, 0.0, [0, 0])).ids[0]
        peer.spec["hold_ms"] = 120_000  # closed, it could no longer be resumed at all
        await peer.go(time.time() * 1000)
        producer_port = peer.peer.producer_port
        t0 = time.monotonic()
        while True:
            status, got = await sseclient.get_json("127.0.0.1", producer_port, f"/status?id={sid}")
            if got and got["emitted"] == n:
                break
            if time.monotonic() - t0 > 120:
                raise RuntimeError(f"peer stream {sid} emitted only {got}")
            await asyncio.sleep(0.1)
        settled_s, port, path = None, peer.port, f"/streams/{sid}"
    result = await run_probe(
        ctx.children,
        f"{sid}-replay",
        {
            "task": "replay",
            "host": "127.0.0.1",
            "port": port,
            "path": path,
            "reps": REPLAY_REPS,
            "timeout_s": 300,
        },
        330,
    )
    result["wait_until_complete_s"] = None if settled_s is None else round(settled_s, 2)
    result["sid"] = sid
    return result


async def _replay_stored(ctx: Context, sid: str) -> dict[str, Any]:
    """The same finished response replayed from the database (once the persist agent stored
    it) by an edge whose Kafka topics never had it."""
    waited = await persistlag.wait_stored(ctx.tokenrelay.database, sid, timeout_s=120)
    edge, port = await ctx.tokenrelay.archive_edge()
    try:
        result = await run_probe(
            ctx.children,
            f"{sid}-replay-stored",
            {
                "task": "replay",
                "host": "127.0.0.1",
                "port": port,
                "path": f"/v1/responses/{sid}/events",
                "reps": REPLAY_REPS,
                "timeout_s": 300,
            },
            330,
        )
    finally:
        edge.stop()
    result["wait_until_stored_s"] = waited
    return result


async def _tokenrelay_producer(
    ctx: Context, rid: str, tokens: int, rate: float, *, separate: bool = False
) -> LoadProc:
    producer = LoadProc(
        ctx.children,
        f"{rid}-produce",
        {
            "task": "produce",
            "kafka": ctx.tokenrelay.kafka,
            "topic_prefix": ctx.tokenrelay.settings.topic_prefix,
            "rids": [rid],
            "tokens": tokens,
            "rate": rate,
            "text": TEXT,
            "window": [0, 0],
            "separate": separate,
        },
    )
    await producer.start()
    await producer.expect("ready", 120)
    producer.send({"start_at": time.time() * 1000 + 200})
    return producer
