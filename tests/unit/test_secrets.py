"""Upstream API keys stay out of repr(settings) and out of every error a failed upstream call
reports: a server quoting the key it was sent (401) or dumping the request's headers (500), and
httpx quoting an illegal header value (a key pasted with its newline). Against the fake
upstream server, no Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from agents.models.anthropic_messages import AnthropicMessages
from agents.models.base import ModelAdapter
from agents.models.openai_chat import OpenAIChat
from agents.models.upstream import make_client
from agents.transforms.classifier import ClassifierUnavailable
from agents.transforms.moderation_api import ModerationEndpoint
from app import redact
from app.contract.requests import Call
from app.errors import UpstreamError
from app.settings import Settings
from tests.fakes.upstream import FakeUpstream

KEY = "sk-secret-4f1c9a7e2b"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


def test_repr_of_settings_shows_no_secret() -> None:
    url = "postgresql://relay:pw-9d2e@db/tokenrelay"
    settings = Settings(openai_api_key=KEY, anthropic_api_key=KEY + "a",
                        moderation_api_key=KEY + "m", database_url=url)  # fmt: skip
    shown = repr(settings) + str(settings)
    assert KEY not in shown and "pw-9d2e" not in shown
    assert "edge_max_body" in shown  # the rest is still there to debug with
    env = {"TOKENRELAY_OPENAI_API_KEY": KEY}
    assert Settings.from_env(env).openai_api_key == KEY  # still read


def test_scrub_blanks_values_tokens_and_their_reprs() -> None:
    secrets = redact.secrets_of({"Authorization": f"Bearer {KEY}\n", "accept": "text/plain"})
    assert redact.scrub(f"bad key {KEY}.", secrets) == "bad key [redacted]."
    quoted = repr(f"Bearer {KEY}\n".encode())
    assert KEY not in redact.scrub(f"Illegal header value {quoted}", secrets)
    assert redact.scrub("nothing secret", secrets) == "nothing secret"
    assert redact.secrets_of({"x-api-key": "abc", "content-type": "application/json"}) == ()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    http = make_client(5.0)
    yield http
    await http.aclose()


def adapter(client: httpx.AsyncClient, fake: FakeUpstream, provider: str, key: str) -> ModelAdapter:
    if provider == "openai":
        return OpenAIChat(client, f"{fake.url}/v1", key)
    return AnthropicMessages(client, fake.url, key, 64)


async def failure(adapter: ModelAdapter, model: str) -> UpstreamError:
    call = Call("answer", model, ({"role": "user", "content": "hi"},))
    with pytest.raises(UpstreamError) as caught:
        async for _ in adapter.stream(call):
            pass
    return caught.value


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(("scenario", "status", "code"), [
    ("http401", 401, "upstream_auth"),
    ("http500", 500, "upstream_unavailable"),
])  # fmt: skip
async def test_an_upstream_quoting_the_key_is_redacted(
    client: httpx.AsyncClient,
    fake: FakeUpstream,
    provider: str,
    scenario: str,
    status: int,
    code: str,
) -> None:
    error = await failure(adapter(client, fake, provider, KEY), f"{provider}/{scenario}")
    assert fake.find(lambda s: s.scenario == scenario and KEY in str(s.headers)), "no key sent"
    assert (error.upstream_status, error.code) == (status, code)
    assert KEY not in str(error) and KEY not in error.message
    assert "[redacted]" in error.message, error.message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_key_with_a_newline_is_not_quoted_back(
    client: httpx.AsyncClient, fake: FakeUpstream, provider: str
) -> None:
    error = await failure(adapter(client, fake, provider, KEY + "\n"), f"{provider}/text")
    assert "Illegal header value" in error.message  # what httpx says, minus the key
    assert KEY not in error.message, error.message


async def test_the_moderation_client_does_not_quote_its_key(fake: FakeUpstream) -> None:
    settings = Settings(moderation_url=f"{fake.url}/v1", moderation_api_key=KEY + "\n")
    endpoint = ModerationEndpoint(settings)
    try:
        with pytest.raises(ClassifierUnavailable) as caught:
            await endpoint.classify("hello")
    finally:
        await endpoint.aclose()
    assert "Illegal header value" in str(caught.value)
    assert KEY not in str(caught.value), caught.value
