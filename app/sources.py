"""A request's `sources` (what the `citations` view cites), validated once at the edge.

`[{"id": 1 | "doc-a", "title": "...", "url": "..."}, ...]`: `id` is required (an integer or a
short name of letters, digits and `_.:-`, unique in the list), `title` and `url` are optional
strings. The caps keep a response's `open` index record well under Kafka's message size.
"""

from __future__ import annotations

import re
from typing import Any

from app.errors import BadRequest

MAX_SOURCES = 256
MAX_ID_CHARS = 64
MAX_TITLE_CHARS = 512
MAX_URL_CHARS = 2048
ID_CHARS = r"A-Za-z0-9_.:\-"  # no space, comma or bracket: a marker can name it unambiguously
_ID = re.compile(rf"[{ID_CHARS}]{{1,{MAX_ID_CHARS}}}")
_MAX_INT_ID = 2**53  # what a JSON reader in a browser still reads exactly
_FIELDS = {"id", "title", "url"}


def parse(raw: Any) -> list[dict[str, Any]]:
    """The sources as given (only their known fields), or BadRequest naming the first defect."""
    if not isinstance(raw, list) or len(raw) > MAX_SOURCES:
        raise BadRequest(f"'sources' must be a list of at most {MAX_SOURCES} objects")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, source in enumerate(raw):
        where = f"sources[{n}]"
        if not isinstance(source, dict) or set(source) - _FIELDS:
            raise BadRequest(f"{where} must be an object with 'id', 'title' and 'url' only")
        if "id" not in source:
            raise BadRequest(f"{where} has no 'id'")
        ident = _id(source["id"], where)
        if str(ident) in seen:
            raise BadRequest(f"{where}: id {str(ident)[:64]!r} is given twice")
        seen.add(str(ident))
        item: dict[str, Any] = {"id": ident}
        for name, cap in (("title", MAX_TITLE_CHARS), ("url", MAX_URL_CHARS)):
            value = source.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > cap:
                raise BadRequest(f"{where}.{name} must be a string of at most {cap} characters")
            item[name] = value
        out.append(item)
    return out


def _id(value: Any, where: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < _MAX_INT_ID:
        return value
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise BadRequest(
        f"{where}.id must be an integer or 1-{MAX_ID_CHARS} letters, digits or _.:- characters"
    )
