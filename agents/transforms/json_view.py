"""The `json` view (structured output): each source's JSON answer, one `json` event (`path`, a
JSON Pointer, and `value`) per top-level member or array item the moment it closes (and each
item of a member's array, `/steps/0`, before the member), checked against the call's schema;
`json.invalid` (`path`, `message`) for what the schema refuses.

Which sources: those whose call asked for JSON (`response_format`, options `{"json": {source:
schema or null}}`, app/structured.py); when no call did, every source, with no schema. A value
the schema refuses comes as `json.invalid` instead of `json` (so every `json` value passed), and
the stream goes on; at the source's end the whole document is checked (missing required members
and the like). Text that stops being JSON gives one `json.invalid` where it broke, and nothing
more for that source. The parser is agents/transforms/jsonstream.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.transforms.base import Out, PerSource, Spec
from agents.transforms.jsonschema_check import Checker, Problem
from agents.transforms.jsonstream import JsonStream
from agents.transforms.jsonvalues import Broken, Value
from app import events

OPTION = "json"


@dataclass(slots=True)
class _Source:
    stream: JsonStream | None = None  # None until its first text: the source is known then
    checker: Checker | None = None
    skip: bool = False  # a source that did not ask for JSON, when others did
    members: dict[str, Any] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)  # members with an item the schema refused
    items: list[Any] = field(default_factory=list)
    scalar: list[Any] = field(default_factory=list)


class JsonView(PerSource):
    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.schemas: dict[str, Any] = spec.options.get(OPTION) or {}

    def make(self) -> _Source:
        return _Source()

    def text(self, state: _Source, source: str, text: str) -> list[Out]:
        if state.stream is None:
            self._start(state, source)
        if state.skip:
            return []
        assert state.stream is not None
        return self._values(state, source, state.stream.push(text))

    def end(self, state: _Source, source: str) -> list[Out]:
        if state.stream is None or state.skip:
            return []
        got = state.stream.end()
        out = self._values(state, source, got)
        if state.checker is None or (got and isinstance(got[-1], Broken)) or state.scalar:
            return out
        if state.stream.kind == ".":  # a whole object or array: what only the whole can break
            doc = state.members if state.stream.shape == "{" else state.items
            out.extend(_invalid(source, state.checker.document(doc)))
        return out

    def _start(self, state: _Source, source: str) -> None:
        state.stream = JsonStream()
        if self.schemas:
            state.skip = source not in self.schemas
            schema = self.schemas.get(source)
            state.checker = Checker(schema) if isinstance(schema, dict) else None

    def _values(self, state: _Source, source: str, got: list[Value | Broken]) -> list[Out]:
        out: list[Out] = []
        for item in got:
            if isinstance(item, Broken):
                out.append(_one_invalid(source, item.path, item.message))
                continue
            if item.index is not None:
                pass  # an item of a member's array: the member itself comes later
            elif isinstance(item.key, str):
                state.members[item.key] = item.value
            elif isinstance(item.key, int):
                state.items.append(item.value)
            else:
                state.scalar.append(item.value)
            problems = self._check(state, item)
            if problems:
                out.extend(_invalid(source, problems))
            else:
                out.append({"type": events.JSON, "source": source, "path": item.path,
                            "value": item.value})  # fmt: skip
        return out

    def _check(self, state: _Source, item: Value) -> list[Problem]:
        if state.checker is None:
            return []
        if item.key is None:  # a scalar document: the root's schema is its own
            return state.checker.document(item.value)
        if item.index is not None:
            found = state.checker.item(str(item.key), item.index, item.value)
            if found:
                state.refused.add(str(item.key))
            return found
        found = state.checker.value(item.key, item.value)
        if not found and item.key in state.refused:
            # Its items' problems were said as they came; a `json` event here would carry them.
            return [(item.path, "an item of this array did not pass its schema")]
        return found


def _one_invalid(source: str, path: str, message: str) -> Out:
    return {"type": events.JSON_INVALID, "source": source, "path": path, "message": message}


def _invalid(source: str, problems: list[Problem]) -> list[Out]:
    return [_one_invalid(source, path, message) for path, message in problems]
