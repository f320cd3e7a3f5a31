"""Model names to adapters, in the worker: `Registry` holds the adapters and their one HTTP
client, and refuses the names app/catalog.py does not offer.
"""

from __future__ import annotations

from agents.models.anthropic_messages import AnthropicMessages
from agents.models.base import ModelAdapter
from agents.models.demo import DemoModel
from agents.models.openai_chat import OpenAIChat
from agents.models.upstream import make_client
from app.catalog import ANTHROPIC, DEMO, OPENAI, Catalog
from app.errors import BadRequest, UnknownModel
from app.settings import Settings


class Registry:
    """The worker's adapters; `aclose` closes their HTTP connections."""

    def __init__(self, settings: Settings) -> None:
        s = settings
        self.catalog = Catalog(settings)
        self.client = make_client(s.generation_connect_timeout_s)
        self.adapters: dict[str, ModelAdapter] = {
            DEMO: DemoModel(s.demo_tokens, s.demo_rate, s.demo_first_token_ms),
            OPENAI: OpenAIChat(self.client, s.openai_base_url, s.openai_api_key),
            ANTHROPIC: AnthropicMessages(
                self.client, s.anthropic_base_url, s.anthropic_api_key, s.anthropic_max_tokens
            ),
        }

    def adapter(self, model: str) -> ModelAdapter:
        try:
            self.catalog.check(model)
        except BadRequest as exc:  # the edge checked it; this worker is configured otherwise
            raise UnknownModel(str(exc)) from None
        return self.adapters[model.partition("/")[0]]

    async def aclose(self) -> None:
        await self.client.aclose()
