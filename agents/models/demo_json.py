"""The demo model's structured output: a valid instance of a JSON Schema, chosen from the prompt
(the same prompt gives the same document), and its text cut into tokens the way a model's are.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

_WORDS = (
    "kafka stream token partition offset reader writer broker replica consumer group leader "
    "segment batch record topic cursor resume latency sequence window schema field value"
).split()
# Punctuation apart from words (runs of it together, as BPE vocabularies have `": "`), escapes
# whole, words in pieces of at most five characters.
_TOKEN = re.compile(r'[{}\[\],:"\s]{1,4}|\\u[0-9a-fA-F]{4}|\\.|[^\s{}\[\],:"\\]{1,5}')
_FORMATS = {
    "date": "2026-12-04",
    "date-time": "2026-12-04T16:09:00Z",
    "time": "16:09:00Z",
    "email": "reader@example.com",
    "uri": "https://example.com/docs",
    "uuid": "3f2b8c1e-9a4d-4e7f-8b6a-2c5d1e0f9a7b",
    "hostname": "broker-1.example.com",
    "ipv4": "10.0.0.7",
}
OBJECT_KEYS = ("title", "summary", "steps", "score", "done")  # json_object, no schema
MAX_DEPTH = 8  # a recursive schema ($ref to itself) stops here with its required fields only


def document(schema: dict[str, Any] | None, prompt: str) -> Any:
    """A valid instance of `schema` (None: some JSON object), the same for the same prompt."""
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")
    words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", prompt)][:8] or ["demo"]
    maker = _Maker(random.Random(seed), schema or _ANY_OBJECT, [*words, *_WORDS])
    return maker.make(schema or _ANY_OBJECT, 0)


def tokens(value: Any) -> list[str]:
    """The JSON text of `value` in model-like tokens: several per string, punctuation apart."""
    return _TOKEN.findall(json.dumps(value, ensure_ascii=False, indent=2))


_ANY_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "summary": {"type": "string", "minLength": 40},
        "steps": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "done": {"type": "boolean"},
    },
    "required": list(OBJECT_KEYS),
}


class _Maker:
    def __init__(self, rng: random.Random, root: dict[str, Any], words: list[str]) -> None:
        self.rng = rng
        self.root = root
        self.words = words

    def make(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, dict):
            return self.text(1, 16)  # `true` or an empty schema: anything goes
        if "$ref" in schema:
            return self.make(self.resolve(schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.make(schema[key][0], depth + 1)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(self.resolve(part["$ref"]) if "$ref" in part else part)
            return self.make(merged, depth)
        kind = schema.get("type", _implied(schema))
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        return getattr(self, "make_" + kind, self.make_string)(schema, depth)

    def resolve(self, ref: str) -> Any:
        node: Any = self.root
        for part in ref.removeprefix("#").strip("/").split("/") if ref != "#" else []:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def make_object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for key, sub in schema.get("properties", {}).items():
            deep = depth >= MAX_DEPTH
            if key in required or (not deep and self.rng.random() < 0.7):
                out[key] = self.make(sub, depth + 1)
        for key in sorted(required - set(out)):  # required but not described: a string will do
            out[key] = self.text(1, 16)
        return out

    def make_array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0 if depth >= MAX_DEPTH else 1))
        high = int(schema.get("maxItems", low + 3))
        prefix = schema.get("prefixItems", [])
        count = max(self.rng.randint(low, max(low, min(high, low + 4))), 0)
        out = [self.make(prefix[i], depth + 1) for i in range(min(count, len(prefix)))]
        items = schema.get("items", {})
        out.extend(self.make(items, depth + 1) for _ in range(count - len(out)))
        return out

    def make_string(self, schema: dict[str, Any], depth: int) -> str:
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        low = int(schema.get("minLength", 0))
        return self.text(low, int(schema.get("maxLength", max(low, 12) + 60)))

    def make_integer(self, schema: dict[str, Any], depth: int) -> int:
        low, high = _bounds(schema, 0, 100)
        return self.rng.randint(int(-(-low // 1)), int(high // 1))

    def make_number(self, schema: dict[str, Any], depth: int) -> float:
        low, high = _bounds(schema, 0, 1000)
        value = round(self.rng.uniform(low, high), 2)
        return min(max(value, low), high)

    def make_boolean(self, schema: dict[str, Any], depth: int) -> bool:
        return self.rng.random() < 0.5

    def make_null(self, schema: dict[str, Any], depth: int) -> None:
        return None

    def text(self, low: int, high: int) -> str:
        """Words up to `high` characters, at least `low` (padded with more words)."""
        parts: list[str] = []
        size = self.rng.randint(min(low, high), high)
        while sum(len(p) + 1 for p in parts) < size or not parts:
            parts.append(self.rng.choice(self.words))
        text = " ".join(parts)
        text = text[:high].rstrip() if len(text) > high else text
        return text.ljust(low, "s")[: max(high, low)]


def _implied(schema: dict[str, Any]) -> str:
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if "minimum" in schema or "maximum" in schema:
        return "number"
    return "string"


def _bounds(schema: dict[str, Any], low: float, high: float) -> tuple[float, float]:
    """The range to draw from: the schema's bounds (an exclusive one stepped in by 1), and
    `low`..`high` where it has none, moved to lie beside a one-sided bound."""
    lo, hi = (
        _bound(schema, "minimum", "exclusiveMinimum", 1),
        _bound(schema, "maximum", "exclusiveMaximum", -1),
    )
    span = high - low
    if lo is None:
        lo = low if hi is None or hi >= low else hi - span
    if hi is None:
        hi = max(high, lo + span)
    return lo, max(lo, hi)


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, step: int) -> float | None:
    value, other = schema.get(inclusive), schema.get(exclusive)
    if isinstance(other, bool):  # draft 4: a flag on the inclusive bound
        return None if value is None else float(value) + (step if other else 0)
    if other is not None:
        return float(other) + step
    return None if value is None else float(value)
