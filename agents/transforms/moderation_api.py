"""A `Classifier` over an OpenAI-compatible moderation endpoint: `POST {base}/moderations` with
`{"model", "input"}`, read as `results[0].flagged` and the names of its true `categories`."""

from __future__ import annotations

from typing import Any

import httpx

from agents.transforms.classifier import CLEAN, ClassifierUnavailable, Verdict
from app import redact
from app.settings import Settings


class ModerationEndpoint:
    """One per moderated response (its connection is reused for every chunk of it, and closed
    with it): no client is shared across responses, so none outlives its user."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.moderation_url.rstrip("/") + "/moderations"
        self.model = settings.moderation_model
        self.timeout_s = settings.moderation_timeout_s
        headers = {"content-type": "application/json"}
        if settings.moderation_api_key:
            headers["authorization"] = f"Bearer {settings.moderation_api_key}"
        self.headers = headers
        self.secrets = redact.secrets_of(headers)
        self._client: httpx.AsyncClient | None = None

    async def classify(self, text: str) -> Verdict:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, headers=self.headers)
        try:
            resp = await self._client.post(self.url, json={"model": self.model, "input": text})
        except httpx.HTTPError as exc:
            # httpx quotes an illegal header value (a key with its newline) in full.
            detail = redact.scrub(repr(exc), self.secrets)
            raise ClassifierUnavailable(f"moderation endpoint: {detail}") from None
        if resp.status_code != 200:
            raise ClassifierUnavailable(f"moderation endpoint answered {resp.status_code}")
        try:
            return verdict(resp.json())
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ClassifierUnavailable(f"moderation endpoint: unreadable answer ({exc})") from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def verdict(body: Any) -> Verdict:
    """`results[0]` of a moderation answer; raises on any other shape."""
    result = body["results"][0]
    flagged = result["flagged"]
    if not isinstance(flagged, bool):
        raise TypeError("'flagged' is not a boolean")
    if not flagged:
        return CLEAN
    categories = result.get("categories") or {}
    named = tuple(sorted(name for name, hit in categories.items() if hit is True))
    return Verdict(True, named)
