"""One source's JSON Schema, compiled once: each top-level value checked against the subschema
it falls under as it arrives, and the whole document against the root at its end.

jsonschema-rs compiles every subschema of the root into a map keyed by JSON Pointer, with `$ref`
resolved against the root, so a property's `{"$ref": "#/$defs/Item"}` works on its own. Measured
per top-level value (agents/transforms/json_measure.py, README.md): jsonschema-rs 0.4-0.7 µs,
fastjsonschema 3.5 µs (5-13 ms to compile), jsonschema 63-110 µs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Set as AbstractSet
from typing import Any

import jsonschema_rs
import orjson

from agents.transforms.jsonvalues import pointer

MAX_ERRORS = 8  # per value: a wrong array of 1,000 items is not 1,000 events
Problem = tuple[str, str]  # (JSON Pointer, message)
# A root with these beside its `$ref` describes its members itself: the ref is not followed.
_SHAPES = frozenset({"properties", "patternProperties", "additionalProperties", "items",
                     "prefixItems"})  # fmt: skip


class Checker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validators = _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
        self.base, self.node = _follow(schema, "#", schema)
        self.checked: set[str | int] = set()  # top-level keys whose values were checked
        self.items: dict[str, set[int]] = {}  # member -> its array's items checked already

    def value(self, key: str | int, value: Any) -> list[Problem]:
        """What is wrong with one top-level member (a str key) or item (an int index)."""
        at = _subschema(self.base, self.node, key)
        validator = self.validators.get(at) if at is not None else None
        if validator is None:
            return []  # no subschema of its own: the document check at the end covers it
        self.checked.add(key)
        return _problems(validator, value, pointer(key), skip=self.items.pop(str(key), None))

    def item(self, key: str, index: int, value: Any) -> list[Problem]:
        """What is wrong with one item of a member's array (the member is checked later, less
        what its items' checks said)."""
        at = _subschema(self.base, self.node, key)
        node = _at(self.schema, at) if at is not None else None
        if not isinstance(node, dict):
            return []
        base, node = _follow(self.schema, at, node)  # type: ignore[arg-type]
        at = _subschema(base, node, index)
        validator = self.validators.get(at) if at is not None else None
        if validator is None:
            return []
        self.items.setdefault(key, set()).add(index)
        return _problems(validator, value, pointer(key) + pointer(index))

    def document(self, doc: Any) -> list[Problem]:
        """What is wrong with the whole document that the values' own checks did not say:
        missing required members, too few items, a root `anyOf`."""
        return _problems(self.validators.get("#"), doc, "", skip=self.checked)


@functools.lru_cache(maxsize=64)
def _compiled(schema: bytes) -> Any:
    # Cached by the schema's canonical bytes: every demo response and every replay after a
    # crash compiles the same schema again. offline: a transform does no I/O (the edge refuses
    # remote refs; this is the second lock).
    return jsonschema_rs.validator_map_for(orjson.loads(schema), offline=True)


def _subschema(base: str, node: dict[str, Any], key: str | int) -> str | None:
    """The pointer of the subschema a member (str) or item (int) of `node` falls under."""
    if isinstance(key, int):
        prefix = node.get("prefixItems")
        if isinstance(prefix, list) and key < len(prefix):
            return f"{base}/prefixItems/{key}"
        return f"{base}/items" if isinstance(node.get("items"), dict) else None
    properties = node.get("properties")
    if isinstance(properties, dict) and key in properties:
        return f"{base}/properties{pointer(key)}"
    for pattern in node.get("patternProperties") or {}:
        if _search(pattern, key):
            return f"{base}/patternProperties{pointer(pattern)}"
    extra = node.get("additionalProperties")
    return f"{base}/additionalProperties" if isinstance(extra, dict) else None


def _follow(schema: dict[str, Any], base: str, node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The pointer and node whose members describe `node`'s, past a `$ref` or two."""
    for _ in range(8):
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#") or _SHAPES & node.keys():
            break
        target = _at(schema, ref)
        if not isinstance(target, dict):
            break
        base, node = ref, target
    return base, node


def _at(schema: dict[str, Any], ref: str) -> Any:
    node: Any = schema
    for part in ref[1:].strip("/").split("/") if ref != "#" else []:
        if not isinstance(node, dict):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def _problems(
    validator: Any, value: Any, path: str, skip: AbstractSet[str | int] | None = None
) -> list[Problem]:
    if validator is None:
        return []
    out: list[Problem] = []
    for error in validator.iter_errors(value):
        where = list(error.instance_path)
        if where and skip and where[0] in skip:
            continue  # said already, when that value arrived
        out.append((path + "".join(pointer(p) for p in where), error.message))
        if len(out) == MAX_ERRORS:
            break
    return out


@functools.lru_cache(maxsize=256)
def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False  # an ECMA-only pattern Python cannot read: no per-value check for it
