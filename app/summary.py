"""A response's summary, carried by its terminal index record: its models, token usage, time to
first text, duration, size and error code. The writer fills a `Tally` as it goes (per call and per
record, never per token); readers (the stats agent, analytics) parse it with `Summary.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.usage import Usage, from_wire


@dataclass(frozen=True, slots=True)
class ModelUse:
    """One model's share of a response: summed over its calls that finished."""

    input_tokens: int = 0
    output_tokens: int = 0
    stream_ms: float = 0.0  # time its calls spent streaming, first text to end (for tokens/s)


@dataclass(slots=True)
class Tally:
    """What a response's writer learns of it; `summary()` for its terminal index record."""

    calls: dict[str, str] = field(default_factory=dict)  # source -> model, known up front
    by_model: dict[str, ModelUse] = field(default_factory=dict)
    first_text: float | None = None  # epoch ms of the first delta
    chars: int = 0
    pieces: int = 0  # text pieces as the model gave them (deltas coalesce several)

    def call_done(
        self,
        source: str,
        model: str | None,
        usage: Usage | None,
        first_token_ms: float | None,
        duration_ms: float | None,
    ) -> None:
        if model is None:
            model = self.calls.get(source)
        if model is None:
            return
        self.calls.setdefault(source, model)
        use = self.by_model.get(model, ModelUse())
        streaming = 0.0
        if first_token_ms is not None and duration_ms is not None:
            streaming = max(0.0, duration_ms - first_token_ms)
        usage = usage or Usage()
        self.by_model[model] = ModelUse(
            use.input_tokens + usage.input_tokens,
            use.output_tokens + usage.output_tokens,
            use.stream_ms + streaming,
        )

    def summary(
        self, created: float, ended: float, code: str | None, failed_source: str | None
    ) -> dict[str, Any]:
        models = list(dict.fromkeys(self.calls.values()))
        total = sum((Usage(u.input_tokens, u.output_tokens) for u in self.by_model.values()),
                    Usage())  # fmt: skip
        out: dict[str, Any] = {
            "models": models,
            "usage": total.to_wire(),
            "by_model": {
                m: {
                    "input_tokens": u.input_tokens,
                    "output_tokens": u.output_tokens,
                    "stream_ms": round(u.stream_ms, 3),
                }
                for m, u in self.by_model.items()
            },
            "duration_ms": round(max(0.0, ended - created), 3),
            "chars": self.chars,
            "pieces": self.pieces,
        }
        if self.first_text is not None:
            out["ttft_ms"] = round(max(0.0, self.first_text - created), 3)
        if code is not None:
            out["code"] = code
            failed = self.calls.get(failed_source or "")
            if failed is not None:
                out["failed_model"] = failed
        return out


@dataclass(frozen=True, slots=True)
class Summary:
    """A terminal record's summary as a reader sees it; fields it cannot read are left out."""

    models: tuple[str, ...] = ()
    by_model: dict[str, ModelUse] = field(default_factory=dict)
    ttft_ms: float | None = None
    duration_ms: float | None = None
    chars: int = 0
    code: str | None = None
    failed_model: str | None = None

    @classmethod
    def parse(cls, obj: Any) -> Summary:
        """Lenient: a record from an older writer, the watchdog or an SDK user may lack any
        field, and a bad field must not cost the rest."""
        if not isinstance(obj, dict):
            return cls()
        models = obj.get("models")
        by_model: dict[str, ModelUse] = {}
        raw = obj.get("by_model")
        for name, use in raw.items() if isinstance(raw, dict) else ():
            usage = from_wire(use) or Usage()
            stream_ms = _number(use.get("stream_ms")) if isinstance(use, dict) else None
            by_model[name] = ModelUse(usage.input_tokens, usage.output_tokens, stream_ms or 0.0)
        code, failed, chars = obj.get("code"), obj.get("failed_model"), obj.get("chars")
        return cls(
            models=tuple(m for m in models if isinstance(m, str))
            if isinstance(models, list)
            else (),
            by_model=by_model,
            ttft_ms=_number(obj.get("ttft_ms")),
            duration_ms=_number(obj.get("duration_ms")),
            chars=chars if type(chars) is int else 0,
            code=code if isinstance(code, str) else None,
            failed_model=failed if isinstance(failed, str) else None,
        )


def _number(value: Any) -> float | None:
    if type(value) is int or type(value) is float:
        return float(value) if value >= 0 else None
    return None
