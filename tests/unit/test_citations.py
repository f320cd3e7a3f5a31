"""The `citations` view without Kafka: markers become `citation` events after the text that
completes them, whatever the token split; and the request's `sources` are validated."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.transforms.base import Spec
from agents.transforms.citations import MAX_MARKER, Citations
from app import views
from app.errors import BadRequest
from app.events import Event

SOURCES = [
    {"id": "kafka-docs", "title": "Kafka documentation", "url": "https://kafka.apache.org/"},
    {"id": 7, "title": "Consumer groups"},
    {"id": "faq"},
]
TEXT = (
    "Groups share partitions [1]. Rebalances happen on join [2, 3][kafka-docs]. "
    "Offsets are per group [7] and [9] is no source; an array [x, y] is text. "
    "A link [the docs](https://x) and a list [ ] stay. Last one [faq]"
)


def cite(pieces: list[str], sources: list[dict[str, Any]] | None = None) -> list[Any]:
    """(kind, text or ref) in order, adjacent deltas merged: what a split must not change."""
    view = Citations(Spec("r1", {"sources": SOURCES if sources is None else sources}))
    raw = [Event("r1", "delta", "answer", i + 1, 0.0, p) for i, p in enumerate(pieces)]
    raw.append(Event("r1", "done", "answer", len(raw) + 1, 0.0))
    out: list[Any] = []
    for event in raw:
        for item in view.feed(event):
            if item["type"] == "delta" and out and out[-1][0] == "delta":
                out[-1] = ("delta", out[-1][1] + item["text"])
            else:
                out.append((item["type"], item.get("text") or item.get("ref")))
    return out


WHOLE = cite([TEXT])


def test_markers_cite_by_position_or_id_after_the_text_that_completes_them() -> None:
    kafka, seven, faq = SOURCES
    expected = [
        ("delta", "Groups share partitions [1]"),
        ("citation", kafka),
        ("delta", ". Rebalances happen on join [2, 3]"),
        ("citation", seven),
        ("citation", faq),
        ("delta", "[kafka-docs]"),
        ("citation", kafka),
        ("delta", ". Offsets are per group [7]"),
        ("citation", seven),  # an id wins over a position (there is no 7th source)
        ("delta", TEXT[TEXT.index(" and [9]") : TEXT.index(" [faq]")] + " [faq]"),
        ("citation", faq),
    ]
    assert WHOLE == expected
    assert cite(["[1, x]"]) == [("delta", "[1, x]"), ("citation", kafka)]  # known names cite


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, len(TEXT) - 1), max_size=60, unique=True))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(TEXT)]
    assert cite([TEXT[a:b] for a, b in zip(edges, edges[1:], strict=False)]) == WHOLE


def test_text_is_held_only_while_it_may_become_a_marker() -> None:
    view = Citations(Spec("r1", {"sources": SOURCES}))
    first = view.feed(Event("r1", "delta", "answer", 1, 0.0, "see [1"))
    assert first == [{"type": "delta", "source": "answer", "text": "see "}]
    second = view.feed(Event("r1", "delta", "answer", 2, 0.0, "x and more"))
    assert second == [{"type": "delta", "source": "answer", "text": "[1x and more"}]
    long = "[" + ",".join(["a"] * 600)
    held = view.feed(Event("r1", "delta", "answer", 3, 0.0, long))
    assert "".join(i["text"] for i in held) == long  # longer than any marker: released
    assert len(long) > MAX_MARKER


def test_the_held_tail_is_released_at_the_end_and_raw_citations_pass() -> None:
    view = Citations(Spec("r1", {"sources": SOURCES}))
    view.feed(Event("r1", "delta", "answer", 1, 0.0, "end [2"))
    ref = {"type": "char_location", "cited_text": "x"}
    passed = view.feed(Event("r1", "citation", "answer", 2, 0.0, ref=ref))
    assert passed == [{"type": "citation", "source": "answer", "ref": ref}]
    done = view.feed(Event("r1", "source.done", "answer", 3, 0.0))
    assert done == [
        {"type": "delta", "source": "answer", "text": "[2"},
        {"type": "source.done", "source": "answer"},
    ]


def test_no_sources_cites_nothing() -> None:
    assert cite([TEXT], sources=[]) == [("delta", TEXT)]


def test_sources_are_validated() -> None:
    body = {"views": ["citations"], "sources": SOURCES}
    assert views.parse(body)[1] == {"sources": SOURCES}
    assert views.parse({"sources": SOURCES})[1] == {}  # only kept for the citations view
    bad: list[Any] = [
        {"a": 1},
        [{"title": "no id"}],
        [{"id": "has space"}],
        [{"id": True}],
        [{"id": 1}, {"id": "1"}],
        [{"id": 1, "title": 5}],
        [{"id": 1, "url": "x" * 5000}],
        [{"id": 1, "extra": 1}],
        [{"id": n} for n in range(257)],
    ]
    for sources in bad:
        with pytest.raises(BadRequest):
            views.parse({"views": ["citations"], "sources": sources})
