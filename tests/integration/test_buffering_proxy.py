"""Through a CDN stand-in that knows nothing about SSE, the edge's own headers keep a stream
streaming: a real nginx with a CDN's defaults (it buffers the origin, caches every 200 for ten
minutes, compresses the text types a CDN compresses) passes events on one by one, uncompressed
and uncached, because the edge sends `X-Accel-Buffering: no`, `Cache-Control: no-cache` and
`Content-Type: text/event-stream` with no Content-Length (docs/proxies.md).

Negative control: the same CDN in front of the same edge through a pass-through that drops
those headers (and labels the body text/plain, as an origin framework's default would): the
first event is held, the stream comes gzipped, and a resuming reader is served the first
reader's cached copy from the start, so it sees every event twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .nginx import Nginx
from .procs import Stack, free_port
from .proxied import finished_response, lockstep
from .sse import client_for, read_events

pytestmark = pytest.mark.integration

ARRIVAL_TIMEOUT_S = 10.0  # an event through an unbuffered proxy: milliseconds, in practice
HELD_S = 2.0  # through a buffering one, the first small event is still held after this long

# `/`: the edge as it is. `/stripped/`: the edge behind a pass-through (the second server)
# that removes its streaming headers. proxy_cache_path sits at `http` level (this file is
# included inside `http {}`).
CDN = """
proxy_cache_path @DIR@/cache keys_zone=cdn:1m max_size=16m inactive=10m use_temp_path=off;

server {
    listen 127.0.0.1:@PORT@;
    # A CDN's compressible types: Cloudflare's and CloudFront's lists hold no text/event-stream.
    gzip on;
    gzip_min_length 1;
    gzip_types text/plain text/css text/xml application/json application/javascript;
    proxy_http_version 1.1;
    proxy_buffering on;
    proxy_cache cdn;
    proxy_cache_valid 200 10m;
    proxy_cache_key $uri$is_args$args;
    add_header X-Cache $upstream_cache_status always;

    location / {
        proxy_pass http://127.0.0.1:@EDGE@;
    }
    location /stripped/ {
        proxy_pass http://127.0.0.1:@STRIP@/;
    }
}

server {
    listen 127.0.0.1:@STRIP@;
    gzip off;
    location / {
        proxy_pass http://127.0.0.1:@EDGE@;
        proxy_http_version 1.1;
        proxy_buffering off;
        proxy_hide_header X-Accel-Buffering;
        proxy_hide_header Cache-Control;
        proxy_hide_header Content-Type;
        add_header Content-Type "text/plain; charset=utf-8";
    }
}
"""


@pytest.fixture
async def cdn(stack: Stack, tmp_path: Path) -> AsyncIterator[Nginx]:
    edge = await stack.edge()
    conf = CDN.replace("@EDGE@", str(edge.port)).replace("@STRIP@", str(free_port()))
    proxy = Nginx(tmp_path, [], conf=conf)
    try:
        yield proxy
    finally:
        proxy.stop()
        if any(not p.alive for p in stack.procs):
            print(proxy.report())


async def test_events_arrive_one_by_one_and_uncompressed(stack: Stack, cdn: Nginx) -> None:
    in_time, read = await lockstep(cdn.url, stack.settings, 5, ARRIVAL_TIMEOUT_S)
    assert in_time == 5 and [e.type for e in read.events] == ["delta"] * 5 + ["done"]
    headers = read.headers  # httpx asked for gzip: the CDN compresses what it may
    assert headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in headers and "content-length" not in headers
    assert headers["transfer-encoding"] == "chunked"
    # Control: without the edge's headers the CDN buffers and gzips: the first event is held
    # (it arrives only with the rest, once the response ends).
    in_time, held = await lockstep(f"{cdn.url}/stripped", stack.settings, 1, HELD_S)
    assert in_time == 0 and held.headers.get("content-encoding") == "gzip", held.headers
    assert [e.type for e in held.events] == ["delta", "done"]


async def test_a_resuming_reader_is_not_served_a_cached_copy(stack: Stack, cdn: Nginx) -> None:
    rid = await finished_response(stack.settings, deltas=8)
    for base, cached in ((cdn.url, False), (f"{cdn.url}/stripped", True)):
        async with client_for(base) as client:
            first = await read_events(client, rid)
            assert [e.seq for e in first.events] == list(range(1, 10)), base
            # A reader resuming after seq 5 (same URL, Last-Event-ID in a header, as
            # EventSource does): the edge answers from seq 6, a cache from its copy of seq 1.
            again = await read_events(client, rid, last_event_id=5)
        if cached:  # control: the CDN kept the first answer and serves it to everyone
            assert again.headers["x-cache"] == "HIT"
            assert [e.seq for e in again.events] == list(range(1, 10))
        else:
            assert again.headers["x-cache"] != "HIT" and first.headers["x-cache"] != "HIT"
            assert [e.seq for e in again.events] == [6, 7, 8, 9]
