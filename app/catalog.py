"""Which models this deployment offers, from settings alone (pure: no adapters, no HTTP): the
edge validates requests and answers GET /v1/models with it, the worker's registry
(agents/models/registry.py) refuses the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import BadRequest
from app.settings import Settings

DEMO = "demo"
OPENAI = "openai"
ANTHROPIC = "anthropic"


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    enabled: bool
    models: tuple[str, ...]  # empty: any model name is passed through


class Catalog:
    def __init__(self, settings: Settings) -> None:
        s = settings
        self.providers = {
            OPENAI: Provider(
                OPENAI, bool(s.openai_base_url or s.openai_api_key), _split(s.openai_models)
            ),
            ANTHROPIC: Provider(
                ANTHROPIC,
                bool(s.anthropic_base_url or s.anthropic_api_key),
                _split(s.anthropic_models),
            ),
        }

    def names(self) -> list[str]:
        """`demo`, then each enabled provider's models, or `<provider>/*` when any will do."""
        out = [DEMO]
        for p in self.providers.values():
            if p.enabled:
                out += [f"{p.name}/{m}" for m in p.models] or [f"{p.name}/*"]
        return out

    def check(self, model: str) -> None:
        """Raises BadRequest unless `model` names a model this deployment can call."""
        if model == DEMO:
            return
        prefix, _, name = model.partition("/")
        provider = self.providers.get(prefix)
        if provider is None or not provider.enabled or not name:
            raise BadRequest(f"unknown model {model[:100]!r}; available: {', '.join(self.names())}")
        if provider.models and name not in provider.models:
            raise BadRequest(
                f"model {model[:100]!r} is not offered; available: {', '.join(self.names())}"
            )


def _split(names: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in names.split(",") if n.strip())
