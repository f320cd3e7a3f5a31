"""Measures the json view's candidates: incremental parsers (µs per token) and schema validators
(µs per top-level value). `.venv/bin/python -m agents.transforms.json_measure`; the candidates
that were not chosen (ijson, jiter, jsonschema-rs) must be installed by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from agents.models.demo_json import document
from agents.transforms.jsonstream import JsonStream

REPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 20, "maxLength": 60},
        "summary": {"type": "string", "minLength": 300, "maxLength": 400},
        "sections": {
            "type": "array",
            "minItems": 8,
            "maxItems": 8,
            "items": {"$ref": "#/$defs/section"},
        },
        "meta": {
            "type": "object",
            "properties": {
                "author": {"type": "string"},
                "version": {"type": "integer", "minimum": 1, "maximum": 9},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3},
            },
            "required": ["author", "version", "tags"],
        },
        "status": {"enum": ["draft", "final"]},
    },
    "required": ["title", "summary", "sections", "meta", "status"],
    "$defs": {
        "section": {
            "type": "object",
            "properties": {
                "heading": {"type": "string", "minLength": 10, "maxLength": 40},
                "body": {"type": "string", "minLength": 200, "maxLength": 300},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "ok": {"type": "boolean"},
            },
            "required": ["heading", "body", "score", "ok"],
        }
    },
}
TOKEN_CHARS = 4
ROUNDS = 20


def sample() -> tuple[str, list[str]]:
    text = json.dumps(document(REPORT, "Explain Kafka consumer groups."), indent=2)
    return text, [text[i : i + TOKEN_CHARS] for i in range(0, len(text), TOKEN_CHARS)]


def ours(pieces: list[str]) -> int:
    stream, n = JsonStream(), 0
    for piece in pieces:
        n += len(stream.push(piece))
    return n + len(stream.end())


def ijson_push(pieces: list[str]) -> int:
    import ijson

    got: list[Any] = []
    sink = ijson.sendable_list()
    coro = ijson.kvitems_coro(sink, "", use_float=True)
    for piece in pieces:
        coro.send(piece.encode())
        got.extend(sink)
        del sink[:]
    coro.close()
    got.extend(sink)
    return len(got)


def jiter_partial(pieces: list[str]) -> int:
    import jiter

    prefix, done = b"", 0
    for piece in pieces:
        prefix += piece.encode()
        value = jiter.from_json(prefix, partial_mode="trailing-strings")
        if isinstance(value, dict):
            done = max(done, len(value) - 1)  # all but the last key are complete
    return done + 1


def view(pieces: list[str]) -> int:
    """The whole transform: the parser, the schema checks, the view's events."""
    from agents.transforms.base import Spec
    from agents.transforms.json_view import JsonView
    from app.events import Event

    transform = JsonView(Spec("r", {"json": {"answer": REPORT}}))
    n = 0
    for i, piece in enumerate(pieces):
        n += len(transform.feed(Event("r", "delta", "answer", i + 1, 0.0, piece)))
    return n + len(transform.feed(Event("r", "source.done", "answer", len(pieces) + 1, 0.0)))


def per_token(parse: Callable[[list[str]], int], pieces: list[str]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        parse(pieces)
        best = min(best, time.perf_counter() - start)
    return best / len(pieces) * 1e6


def validators(text: str) -> dict[str, float]:
    """µs to validate every top-level value against its property's schema ($defs beside it)."""
    doc = orjson.loads(text)
    subs = [({**REPORT["properties"][k], "$defs": REPORT["$defs"]}, v) for k, v in doc.items()]
    made: dict[str, Callable[[dict[str, Any]], Callable[[Any], Any]]] = {}
    try:
        import fastjsonschema

        made["fastjsonschema"] = fastjsonschema.compile
    except ImportError:
        pass
    try:
        import jsonschema  # type: ignore[import-untyped]

        made["jsonschema"] = lambda s: jsonschema.Draft202012Validator(s).is_valid
    except ImportError:
        pass
    import jsonschema_rs

    made["jsonschema-rs"] = lambda s: jsonschema_rs.validator_for(s).is_valid
    out: dict[str, float] = {}
    for name, compile_ in made.items():
        start = time.perf_counter()
        checks = [(compile_(s), v) for s, v in subs]
        out[f"{name} compile ms"] = (time.perf_counter() - start) * 1e3
        best = float("inf")
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for check, value in checks:
                check(value)
            best = min(best, time.perf_counter() - start)
        out[f"{name} µs/value"] = best / len(checks) * 1e6
    return out


def main() -> None:
    text, pieces = sample()
    print(f"document {len(text)} chars, {len(pieces)} tokens of {TOKEN_CHARS} chars")
    candidates = (("ours", ours), ("ijson yajl2_c", ijson_push), ("jiter", jiter_partial),
                  ("json view (ours + jsonschema-rs)", view))  # fmt: skip
    for name, parse in candidates:
        try:
            print(f"{name}: {per_token(parse, pieces):.2f} µs/token ({parse(pieces)} values)")
        except ImportError as exc:
            print(f"{name}: not installed ({exc})")
    for name, value in validators(text).items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
