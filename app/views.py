"""What a response asks of the transforms: its views and their options, validated once.

Shared by the edge (a bad `views` or `moderation` is a 400 before anything is published), the
producer SDK's `open` (which carries them in the response's `open` index record) and the
worker's views agent (agents/views.py), which reads them back from that record. Each view is
its own event stream in `<prefix>.views.<name>`, keyed by response id, with its own seq.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from app import sources, structured
from app.contract.requests import Call
from app.errors import BadRequest

VIEW_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

SENTENCES = "sentences"
PLAIN = "plain"
MARKDOWN = "markdown"
MODERATED = "moderated"
CITATIONS = "citations"
JSON = "json"  # structured output: each source's JSON, field by field (app/structured.py)
BUILTIN = (SENTENCES, PLAIN, MARKDOWN, MODERATED, CITATIONS, JSON)
ENTRY_POINTS = "tokenrelay.views"  # your own transforms (agents/transforms/base.py)
# Rules per request: enough for a product's word list, few enough that a request cannot make
# the worker spend seconds per token.
MAX_RULES = 64
MAX_RULE_CHARS = 512


def parse(
    body: Mapping[str, Any], calls: Iterable[Call] = ()
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The request's views (in the order asked, no repeats) and their options (only what the
    views need: `moderation` rules, the calls' JSON Schemas). Raises BadRequest naming the first
    defect."""
    raw = body.get("views", [])
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise BadRequest("'views' must be a list of view names")
    known = names()
    unknown = [v for v in raw if v not in known]
    if unknown:
        raise BadRequest(f"unknown view {unknown[0][:64]!r}; views are {', '.join(known)}")
    views = tuple(dict.fromkeys(raw))
    options: dict[str, Any] = {}
    if "moderation" in body:
        options["moderation"] = moderation_rules(body["moderation"])
    if "sources" in body:
        cited = sources.parse(body["sources"])
        if CITATIONS in views:  # only the citations view reads them: keep the record small
            options["sources"] = cited
    if JSON in views:
        options["json"] = structured.view_options(calls)
    return views, options


@functools.cache
def names() -> tuple[str, ...]:
    """Every view a request may ask for: the built-ins and the entry points' names (read from
    package metadata: nothing is imported)."""
    extra = sorted(e.name for e in entry_points(group=ENTRY_POINTS) if VIEW_NAME.fullmatch(e.name))
    return BUILTIN + tuple(n for n in extra if n not in BUILTIN)


_GLOBAL_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


def scoped(rule: str) -> str:
    """`rule` with its leading global flags (`(?i)abc`) made scoped (`(?i:abc)`): rules are
    combined into one alternation, where Python refuses global flags past the start."""
    found = _GLOBAL_FLAGS.match(rule)
    return f"(?{found[1]}:{rule[found.end():]})" if found else rule


def moderation_rules(raw: Any) -> dict[str, list[str]]:
    """`{"redact": [regex, ...], "block": [regex, ...]}`, each a valid Python regex."""
    if not isinstance(raw, dict) or set(raw) - {"redact", "block"}:
        raise BadRequest("'moderation' must be an object with 'redact' and/or 'block' lists")
    out: dict[str, list[str]] = {}
    for kind in ("redact", "block"):
        rules = raw.get(kind, [])
        if not isinstance(rules, list) or len(rules) > MAX_RULES:
            raise BadRequest(f"moderation.{kind} must be a list of at most {MAX_RULES} regexes")
        for rule in rules:
            if not isinstance(rule, str) or not rule or len(rule) > MAX_RULE_CHARS:
                raise BadRequest(f"moderation.{kind}: each rule is a 1-{MAX_RULE_CHARS} char regex")
            try:
                re.compile(f"(?:{scoped(rule)})")
            except re.error as exc:
                bad = f"moderation.{kind}: {rule[:64]!r} is not a regex: {exc}"
                raise BadRequest(bad) from None
        out[kind] = list(rules)
    return out
