"""The json view without Kafka: golden cases of the incremental parser and the schema checks,
any split of the same text giving the same events, and broken JSON stopping a source."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.models.demo_json import document, tokens
from agents.views import following, outputs
from app.events import Event
from app.settings import Settings

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "count": {"type": "integer", "minimum": 0, "maximum": 10},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
        "ok": {"type": "boolean"},
    },
    "required": ["title", "count"],
    "$defs": {
        "item": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
            "required": ["name"],
        }
    },
}
TEXT = (
    '```json\n{"title": "Caf\\u00e9 {\\"quoted\\"} [x], \\\\ ünï 🚀", "count": 7,\n'
    ' "items": [{"name": "a,b", "price": 1.5e2}, {"name": "}{", "price": -0.25}],\n'
    ' "ok": true}\n```\n'
)
Got = list[tuple[str, str, Any]]


def run(pieces: list[str], schemas: dict[str, Any] | None = None, end: str = "done") -> Got:
    options = {"json": schemas} if schemas is not None else {}
    entry = {"rid": "r1", "partition": 0, "views": ["json"], "options": options}
    f = following(Settings(), entry)
    raw = [Event("r1", "delta", "answer", i + 1, float(i), p) for i, p in enumerate(pieces)]
    if end == "done":
        raw.append(Event("r1", "source.done", "answer", len(raw) + 1, 1.0))
    raw.append(Event("r1", end, "answer", len(raw) + 1, 1.0, retriable=end == "error"))
    out: Got = []
    for event in raw:
        for _, ev in outputs(f, event):
            detail = ev.value if ev.type == "json" else ev.message
            out.append((ev.type, ev.path or "", detail))
    return out


def values(got: Got) -> dict[str, Any]:
    return {path: value for kind, path, value in got if kind == "json"}


def top(got: Got) -> dict[str, Any]:
    return {path: value for path, value in values(got).items() if path.count("/") <= 1}


def test_each_top_level_member_is_one_event_parsed() -> None:
    got = run([TEXT[i : i + 3] for i in range(0, len(TEXT), 3)], {"answer": SCHEMA})
    doc = json.loads(TEXT.removeprefix("```json\n").removesuffix("```\n"))
    items = {f"/items/{i}": v for i, v in enumerate(doc["items"])}
    assert values(got) == {**{f"/{k}": v for k, v in doc.items()}, **items}
    paths = [p for k, p, _ in got if k == "json"]
    assert paths == ["/title", "/count", "/items/0", "/items/1", "/items", "/ok"]
    assert [k for k, _, _ in got][-2:] == ["source.done", "done"]
    assert values(got)["/title"] == 'Café {"quoted"} [x], \\ ünï 🚀'


def test_a_value_comes_out_when_it_closes_not_at_the_next_comma() -> None:
    entry = {"rid": "r1", "partition": 0, "views": ["json"], "options": {}}
    f = following(Settings(), entry)
    seen: list[tuple[int, str | None]] = []
    pieces = ['{"a": "x', 'y"', ', "b": [1', "]", ', "c": 4', "2", "}"]
    for i, piece in enumerate(pieces):
        for _, ev in outputs(f, Event("r1", "delta", "answer", i + 1, 0.0, piece)):
            seen.append((i, ev.path))
    # a number needs its delimiter; a member's array items come before the member
    assert seen == [(1, "/a"), (3, "/b/0"), (3, "/b"), (6, "/c")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2.5, 30]", {"/0": 1, "/1": 2.5, "/2": 30}),
        ('  [{"a": [1, {"b": []}]}, "x\\"]"]', {"/0": {"a": [1, {"b": []}]}, "/1": 'x"]'}),
        ('{"a/b": 1, "m~n": null}', {"/a~1b": 1, "/m~0n": None}),
        ("\n\n42\n", {"": 42}),
        ('```\n"just a string"\n```', {"": "just a string"}),
        ("{}", {}),
        ("[]", {}),
    ],
)
def test_golden(text: str, expected: dict[str, Any]) -> None:
    for size in (1, 2, 5, len(text)):
        got = run([text[i : i + size] for i in range(0, len(text), size)])
        assert values(got) == expected and not [g for g in got if g[0] == "json.invalid"]


def test_a_value_the_schema_refuses_is_invalid_and_the_stream_goes_on() -> None:
    text = '{"title": 5, "count": 11, "items": [{"price": "x"}], "ok": false}'
    got = run([text[i : i + 4] for i in range(0, len(text), 4)], {"answer": SCHEMA})
    assert [g for g in got if g[0] == "json.invalid"] == [
        ("json.invalid", "/title", '5 is not of type "string"'),
        ("json.invalid", "/count", "11 is greater than the maximum of 10"),
        ("json.invalid", "/items/0", '"name" is a required property'),
        ("json.invalid", "/items/0/price", '"x" is not of type "number"'),
        ("json.invalid", "/items", "an item of this array did not pass its schema"),
    ]
    assert values(got) == {"/ok": False}


def test_items_of_a_member_array_are_checked_one_by_one() -> None:
    schema = {"type": "object", "properties": {"steps": {"$ref": "#/$defs/steps"}},
              "$defs": {"steps": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}}
    got = run(['{"steps": ["a", 2, "c"], "n": [1, [2]]}'], {"answer": schema})  # fmt: skip
    assert got[:-2] == [
        ("json", "/steps/0", "a"),
        ("json.invalid", "/steps/1", '2 is not of type "string"'),
        ("json", "/steps/2", "c"),
        ("json.invalid", "/steps", '["a",2,"c"] has more than 2 items'),
        ("json", "/n/0", 1),
        ("json", "/n/1", [2]),
        ("json", "/n", [1, [2]]),
    ]


def test_the_whole_document_is_checked_at_its_end() -> None:
    schema = {**SCHEMA, "additionalProperties": False}
    got = run(['{"title": "t", "extra": 1}'], {"answer": schema})
    problems = [(p, m) for k, p, m in got if k == "json.invalid"]
    assert values(got) == {"/title": "t", "/extra": 1}
    assert ("", '"count" is a required property') in problems
    assert any("extra" in m for p, m in problems) and len(problems) == 2
    scalar = run(["12"], {"answer": {"type": "integer", "maximum": 5}})
    assert scalar[0] == ("json.invalid", "", "12 is greater than the maximum of 5")


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ('{"a": 1, "b": tru, "c": 2}', "/b", "not JSON"),
        ('{"a": [1}', "/a", "unexpected '}'"),
        ('{"a": 1,, "b": 2}', "", "missing value"),
        ('Here you go: {"a": 1}', "", "starts with 'H'"),
        ('{"a": 1} and more', "", "text after the JSON document"),
        ('{"a": 1, "b": "cut off', "/b", "ended before the JSON document"),
    ],
)
def test_broken_json_is_one_invalid_event_then_nothing(text: str, path: str, words: str) -> None:
    got = run([text[i : i + 2] for i in range(0, len(text), 2)])
    invalid = [g for g in got if g[0] == "json.invalid"]
    assert len(invalid) == 1 and invalid[0][1] == path and words in invalid[0][2], got
    after = got[got.index(invalid[0]) + 1 :]
    assert [k for k, _, _ in after] == ["source.done", "done"]
    if text.startswith('{"a": 1,'):
        assert values(got) == {"/a": 1}


def test_an_incomplete_document_at_a_cancel_says_so() -> None:
    got = run(['{"a": 1, "b": [1, 2'], end="cancelled")
    assert got == [
        ("json", "/a", 1),
        ("json", "/b/0", 1),
        ("json.invalid", "/b", "the text ended before the JSON document did"),
        ("cancelled", "", None),
    ]


def test_only_the_sources_that_asked_for_json_are_parsed() -> None:
    entry = {"rid": "r1", "partition": 0, "views": ["json"],
             "options": {"json": {"data": None}}}  # fmt: skip
    f = following(Settings(), entry)
    raw = [Event("r1", "delta", "prose", 1, 0.0, "Not JSON at all."),
           Event("r1", "delta", "data", 2, 0.0, '{"x": 1}'),
           Event("r1", "source.done", "prose", 3, 0.0),
           Event("r1", "source.done", "data", 4, 0.0)]  # fmt: skip
    got = [(ev.type, ev.source, ev.path) for e in raw for _, ev in outputs(f, e)]
    assert got == [("json", "data", "/x"), ("source.done", "prose", None),
                   ("source.done", "data", None)]  # fmt: skip


def splits(text: str) -> st.SearchStrategy[list[str]]:
    cuts = st.lists(st.integers(1, len(text) - 1), max_size=60, unique=True)

    def cut(at: list[int]) -> list[str]:
        edges = [0, *sorted(at), len(text)]
        return [text[a:b] for a, b in zip(edges, edges[1:], strict=False)]

    return cuts.map(cut)


WHOLE = run([TEXT], {"answer": SCHEMA})
BROKEN = '[{"a": "x\\"y"}, 3.25, "é", {"b": [1, 2]}, tru, 5]'


@settings(max_examples=300, deadline=None)
@given(splits(TEXT))
def test_any_split_gives_the_same_events(pieces: list[str]) -> None:
    assert run(pieces, {"answer": SCHEMA}) == WHOLE


@settings(max_examples=200, deadline=None)
@given(splits(BROKEN))
def test_any_split_of_broken_json_breaks_at_the_same_place(pieces: list[str]) -> None:
    assert run(pieces) == run([BROKEN])


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=40), st.integers(1, 7))
def test_the_demo_document_streams_back_field_by_field(prompt: str, size: int) -> None:
    doc = document(SCHEMA, prompt)
    text = "".join(tokens(doc))
    got = run([text[i : i + size] for i in range(0, len(text), size)], {"answer": SCHEMA})
    assert top(got) == {f"/{k}": v for k, v in doc.items()}
    assert not [g for g in got if g[0] == "json.invalid"]
