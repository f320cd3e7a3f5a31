"""Which browser origins may call the edge (`TOKENRELAY_CORS_ORIGINS`), as Starlette's
CORSMiddleware: an allowed origin gets the CORS headers on every answer, event streams included,
and its preflights pass; any other origin gets no Access-Control-Allow-Origin, so its pages
cannot read anything. Empty (the default): no CORS at all, same-origin pages only.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

# What a page needs: POST (create, cancel) with a JSON body and a bearer token, GET with
# Last-Event-ID (a fetch-based SSE client resuming; EventSource sends it on its own).
METHODS = ("GET", "POST")
HEADERS = ("Authorization", "Content-Type", "Last-Event-ID")
# A page must see Retry-After to back off from a 429 (not a CORS-safelisted header).
EXPOSED = ("Retry-After",)
# Browsers cap it anyway (Chromium at 2 h); 10 minutes spares a preflight per request.
PREFLIGHT_MAX_AGE_S = 600


def origins(setting: str) -> list[str]:
    """`https://a.example, https://b.example` -> the list; `*` allows any origin."""
    return [o.strip().rstrip("/") for o in setting.split(",") if o.strip()]


def wrap(app: ASGIApp, setting: str) -> ASGIApp:
    """`app` behind the CORS policy of `setting`, or `app` itself when it allows nobody.

    No credentials mode: tokens travel in Authorization or ?token=, never in cookies, so a page
    has no ambient authority to lend another origin."""
    allowed = origins(setting)
    if not allowed:
        return app
    return CORSMiddleware(
        app,
        allow_origins=allowed,
        allow_methods=METHODS,
        allow_headers=HEADERS,
        expose_headers=EXPOSED,
        max_age=PREFLIGHT_MAX_AGE_S,
    )
