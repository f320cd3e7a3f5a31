"""What the json view's parser (jsonstream.py) yields: a complete `Value` with its place in the
document, or `Broken` where the text stopped being JSON; places are JSON Pointers (RFC 6901).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Broken(Exception):
    """The text stopped being JSON: `path` is where (a JSON Pointer), `message` says how."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Value:
    """One complete top-level value: `key` is the member's name or the item's index (None for a
    scalar document); `index` is set for an item of a member's array (the member comes later)."""

    key: str | int | None
    value: Any
    index: int | None = None

    @property
    def path(self) -> str:
        if self.key is None:
            return ""
        return pointer(self.key) + ("" if self.index is None else pointer(self.index))


def pointer(key: str | int) -> str:
    return "/" + str(key).replace("~", "~0").replace("/", "~1")
