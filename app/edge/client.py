"""Who is asking: the client address the edge records for the audit log (app/audit.py), until
API keys exist.

The socket's peer address, unless it is a proxy named in `TOKENRELAY_EDGE_TRUSTED_PROXIES`
(comma-separated addresses, `*` for any): then `X-Forwarded-For` is walked from its right end,
past the trusted proxies, to the first address that is not one. Only the right end can be
trusted: a client may send any `X-Forwarded-For` it likes, and each proxy appends its peer.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection


def trusted(setting: str) -> frozenset[str]:
    return frozenset(p.strip() for p in setting.split(",") if p.strip())


def address(conn: HTTPConnection, proxies: frozenset[str]) -> str | None:
    """The client's address as far as the edge can tell; None when the server gave no peer."""
    peer = conn.client.host if conn.client is not None else None
    if not proxies or (peer not in proxies and "*" not in proxies):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",")]
    hops = [h for h in hops if h]
    for hop in reversed(hops):
        if hop not in proxies and "*" not in proxies:
            return hop
    # Every hop is a trusted proxy (or `*` trusts them all): the leftmost is the origin.
    return hops[0] if hops else peer
