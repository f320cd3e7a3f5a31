"""The sentence segmenter's quality on the hand-made corpus beside it, next to pysbd's:
`python -m agents.transforms.evaluate` prints a markdown table of boundary precision, recall
and F1 per document and overall, and how many characters past each end we needed to see.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from agents.transforms.sentences import Segmenter

CORPUS = Path(__file__).parent / "corpus"
SEED = 20240501


def pieces(text: str, rng: random.Random) -> list[str]:
    """The text cut into token-sized pieces of 2 to 6 characters."""
    out, i = [], 0
    while i < len(text):
        n = rng.randint(2, 6)
        out.append(text[i : i + n])
        i += n
    return out


def ours(text: str, rng: random.Random) -> list[str]:
    seg = Segmenter()
    out = [s for piece in pieces(text, rng) for s in seg.push(piece)]
    return out + seg.flush()


def delays(text: str) -> list[int]:
    """For each sentence emitted before flush: characters seen past its end when it came out.
    Fed one character at a time, so this is what the rules need, not what a piece carried."""
    seg, seen, end, out = Segmenter(), 0, 0, []
    for ch in text:
        seen += 1
        for sentence in seg.push(ch):
            end += len(sentence)
            out.append(seen - end)
    return out


def pysbd_sentences(text: str) -> list[str]:
    import pysbd  # a test dependency only: the segmenter itself never needs it

    spans = pysbd.Segmenter(language="en", clean=False, char_span=True).segment(text)
    ends = [span.end for span in spans]
    return [text[a:b] for a, b in zip([0, *ends], ends, strict=False)] + [text[ends[-1] :]]


def boundaries(text: str, sentences: Iterable[str]) -> set[int]:
    """Where the sentences after the first begin, past any whitespace between them, so a
    segmenter that leaves the whitespace to the next sentence (pysbd) is judged fairly."""
    out, i = set(), 0
    for sentence in sentences:
        i += len(sentence)
        j = i
        while j < len(text) and text[j].isspace():
            j += 1
        if j < len(text):
            out.add(j)
    return out


def scores(gold: set[int], found: set[int]) -> tuple[int, int, int]:
    """(true positives, found, gold) counts: summed across documents for the overall row."""
    return len(gold & found), len(found), len(gold)


def prf(tp: int, found: int, gold: int) -> str:
    p = tp / found if found else 1.0
    r = tp / gold if gold else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"{p:.3f} | {r:.3f} | {f:.3f}"


def main() -> None:
    rng = random.Random(SEED)
    head = "| doc | sentences | ours P | ours R | ours F1 | pysbd P | pysbd R | pysbd F1 |"
    rows = [head + " delay mean | delay max |", "|" + " --- |" * 10]
    totals: dict[str, tuple[int, ...]] = {"ours": (0, 0, 0), "pysbd": (0, 0, 0)}
    all_delays: list[int] = []
    count = 0
    for line in (CORPUS / "gold.jsonl").read_text().splitlines():
        entry = json.loads(line)
        doc, sentences = entry["doc"], entry["sentences"]
        text = (CORPUS / doc).read_text()
        assert "".join(sentences) == text, f"{doc}: the gold does not spell the document"
        got = ours(text, rng)
        assert "".join(got) == text and got == ours(text, random.Random(0)), doc
        gold = boundaries(text, sentences)
        found = {"ours": boundaries(text, got), "pysbd": boundaries(text, pysbd_sentences(text))}
        row = {key: scores(gold, found[key]) for key in totals}
        for key, s in row.items():
            totals[key] = tuple(a + b for a, b in zip(totals[key], s, strict=True))
        ds = delays(text)
        all_delays += ds
        count += len(sentences)
        rows.append(
            f"| {doc} | {len(sentences)} | {prf(*row['ours'])} | {prf(*row['pysbd'])} "
            f"| {sum(ds) / len(ds):.2f} | {max(ds)} |"
        )
    rows.append(
        f"| **overall** | {count} | {prf(*totals['ours'])} | {prf(*totals['pysbd'])} "
        f"| {sum(all_delays) / len(all_delays):.2f} | {max(all_delays)} |"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
