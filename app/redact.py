"""Credentials out of what a failed upstream call reports. The model adapters and the moderation
client pass their error messages through `scrub` with the secrets of their own request headers,
so the key reaches neither an `error` event nor a log line, even when a server quotes the key
it was sent (some proxies and debug builds do) or httpx quotes an illegal header value (a key
pasted with its newline: `Illegal header value b'Bearer sk-...\\n'`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Headers that carry a credential to the upstreams we call.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key"})
# Shorter than this, a "secret" would blank ordinary words and reveals next to nothing.
MIN_SECRET = 4
REDACTED = "[redacted]"


def secrets_of(headers: Mapping[str, str]) -> tuple[str, ...]:
    """What to blank: each credential header's value and its token without the scheme, as
    given and as Python's str and bytes reprs print them; longest first, so a whole value goes
    before the token inside it."""
    out: set[str] = set()
    for name, value in headers.items():
        if name.lower() not in SECRET_HEADERS:
            continue
        for raw in (value, value.partition(" ")[2]):
            secret = raw.strip()
            if len(secret) >= MIN_SECRET:
                out |= {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]}
    return tuple(sorted(out, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
