"""The incremental sentence segmenter (agents/transforms/sentences.py): where it cuts, when each
sentence comes out, and that neither depends on how the stream was split into pieces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.transforms.sentences import Segmenter

CORPUS = Path(__file__).parents[2] / "agents" / "transforms" / "corpus"


def whole(text: str) -> list[str]:
    seg = Segmenter()
    return seg.push(text) + seg.flush()


def fed(pieces: list[str]) -> list[str]:
    seg = Segmenter()
    return [s for piece in pieces for s in seg.push(piece)] + seg.flush()


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello there. How are you?", ["Hello there. ", "How are you?"]),
        ("Stop!  Now.\n", ["Stop!  ", "Now.\n"]),
        ('He said "go." Then he left.', ['He said "go." ', "Then he left."]),
        ('"Stop!" she said. Fine.', ['"Stop!" she said. ', "Fine."]),
        ("(It was short.) Next.", ["(It was short.) ", "Next."]),
        ("**Why?** Because.", ["**Why?** ", "Because."]),
        ("Pi is 3.14 today. Yes.", ["Pi is 3.14 today. ", "Yes."]),
        ("Run 1.2.3 or 2.0. Then stop.", ["Run 1.2.3 or 2.0. ", "Then stop."]),
        ("It costs $4.50. It is cheap.", ["It costs $4.50. ", "It is cheap."]),
        ("It took 12.5 ms. Fast.", ["It took 12.5 ms. ", "Fast."]),
        ("Ask Dr. Smith. And Ms. Kim.", ["Ask Dr. Smith. ", "And Ms. Kim."]),
        ("Use e.g. Python. Or i.e. Go.", ["Use e.g. Python. ", "Or i.e. Go."]),
        ("Kafka vs. Pulsar. Done.", ["Kafka vs. Pulsar. ", "Done."]),
        ("Fruit, etc. and more. Yes.", ["Fruit, etc. and more. ", "Yes."]),
        ("Fruit, etc. Bananas too.", ["Fruit, etc. ", "Bananas too."]),
        ("The U.S. Army won. We left.", ["The U.S. Army won. ", "We left."]),
        ("We left the U.S. The end.", ["We left the U.S. ", "The end."]),
        ("J. Smith wrote it. Good.", ["J. Smith wrote it. ", "Good."]),
        ("Wait... what? Well... Maybe.", ["Wait... what? ", "Well... ", "Maybe."]),
        ("So… nothing. Ok.", ["So… nothing. ", "Ok."]),
        ("See https://x.com/a.b now. Ok.", ["See https://x.com/a.b now. ", "Ok."]),
        ("Mail a.b@x.com. Thanks.", ["Mail a.b@x.com. ", "Thanks."]),
        ("你好。我是！好吗？OK", ["你好。", "我是！", "好吗？", "OK"]),
        ("「好。」次", ["「好。」", "次"]),
        ("First line\nwraps here. Done.", ["First line\nwraps here. ", "Done."]),
        ("One para\n\nTwo para", ["One para\n\n", "Two para"]),
        ("# Title\nBody text", ["# Title\n", "Body text"]),
        ("Steps:\n- one\n- two. Three\n", ["Steps:\n", "- one\n", "- two. ", "Three\n"]),
        ("1. Start it.\n2. Stop it.", ["1. Start it.\n", "2. Stop it."]),
        ("## 2. Setup\nText", ["## 2. Setup\n", "Text"]),
        ("| a | b |\n| 1 | 2 |\n", ["| a | b |\n", "| 1 | 2 |\n"]),
        ("- item. More words\nNext", ["- item. ", "More words\n", "Next"]),
        (
            "Run:\n```py\nx = 1. Y = 2\n\n```\n\nAfter.",
            ["Run:\n", "```py\nx = 1. Y = 2\n\n```\n\n", "After."],
        ),
        ("```\nopen. Never closed", ["```\nopen. Never closed"]),
        ("Trailing.   ", ["Trailing.   "]),
    ],
)
def test_cuts(text: str, sentences: list[str]) -> None:
    assert whole(text) == sentences


def test_a_sentence_comes_out_when_the_next_one_begins() -> None:
    seg = Segmenter()
    assert seg.push("Hello.") == []
    assert seg.push(" ") == []  # more whitespace could follow, and it belongs to "Hello."
    assert seg.push("W") == ["Hello. "]
    assert seg.flush() == ["W"]


def test_an_ambiguous_abbreviation_waits_for_the_next_word() -> None:
    seg = Segmenter()
    assert seg.push("We left the U.S. T") == []
    assert seg.push("he") == []
    assert seg.push(" end.") == ["We left the U.S. "]


def test_a_code_block_comes_out_after_its_closing_fence() -> None:
    seg = Segmenter()
    assert seg.push("```\nx. Y\n``") == []
    assert seg.push("`\n") == []
    assert seg.push("A") == ["```\nx. Y\n```\n"]


def test_flush_of_nothing_is_nothing_and_resets() -> None:
    seg = Segmenter()
    assert seg.flush() == []
    assert seg.push("```\nopen") == []
    assert seg.flush() == ["```\nopen"]
    assert whole("") == []
    assert seg.push("Fresh. Start") == ["Fresh. "]


# Text made of the pieces the rules care about, so random draws hit them often.
ATOMS = [
    *'a B word . ? ! ... … " ) ** 3.14 Dr. e.g. U.S. etc. J. The x@y.com https://a.b/c.d'.split(),
    *"``` 。 ！ 」 ß É".split(),
    *[" ", "  ", "\t", "\n", "\n\n", "# ", "- ", "1. ", "| "],
]
texts = st.lists(st.sampled_from(ATOMS), max_size=60).map("".join) | st.text(max_size=80)


@settings(max_examples=400, database=None, deadline=None)
@given(text=texts, data=st.data())
def test_any_split_gives_the_same_sentences(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=len(text) + 1)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    expected = whole(text)
    assert "".join(expected) == text
    assert all(expected)
    assert fed(pieces) == expected


@settings(max_examples=100, database=None, deadline=None)
@given(text=texts)
def test_one_character_at_a_time_gives_the_same_sentences(text: str) -> None:
    assert fed(list(text)) == whole(text)


def test_corpus_gold_covers_each_document_exactly() -> None:
    for line in (CORPUS / "gold.jsonl").read_text().splitlines():
        entry = json.loads(line)
        assert "".join(entry["sentences"]) == (CORPUS / entry["doc"]).read_text()
        assert all(entry["sentences"])
