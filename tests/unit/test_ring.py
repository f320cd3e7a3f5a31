"""The packed ring against the plainest model of it, a deque of frame tuples: any mix of
appends, drops from the front (past compaction) and clears reads back the same frames."""

from __future__ import annotations

import random
from collections import deque

import pytest

from app.edge.frame import DATA, SEQ, Frame
from app.edge.ring import COMPACT_AFTER, Ring

TEXTS = (None, "", " word", "é∑ 😀", "line\nbreak")
SOURCES = ("answer", "tool:search", "ünïcode")


def frame(seq: int, rng: random.Random, terminal: bool = False) -> Frame:
    text = rng.choice(TEXTS)
    data = f'id: {seq}\nevent: delta\ndata: {{"seq":{seq}}}\n\n'.encode() * rng.randint(1, 3)
    return (seq, data, terminal, rng.choice(SOURCES), text, 1000.0 + seq / 7)


def check(ring: Ring, model: deque[Frame]) -> None:
    assert len(ring) == len(model) and bool(ring) == bool(model)
    assert list(ring) == list(model)
    assert ring.size == sum(len(f[DATA]) for f in model)
    if model:
        assert ring.first_seq() == model[0][SEQ]
        assert ring[0] == model[0] and ring[-1] == model[-1]
        for cut in (model[0][SEQ] - 1, model[len(model) // 2][SEQ], model[-1][SEQ]):
            assert ring.after(cut) == [f for f in model if f[SEQ] > cut]


@pytest.mark.parametrize("seed", range(8))
def test_any_appends_and_drops_read_back_as_the_model(seed: int) -> None:
    rng = random.Random(seed)
    ring, model = Ring(), deque[Frame]()
    seq = 0
    for step in range(3 * COMPACT_AFTER):
        seq += rng.choice((1, 1, 1, 2))  # the ordering rule allows gaps: seqs only rise
        f = frame(seq, rng)
        ring.append(f)
        model.append(f)
        while len(model) > 40 or (model and rng.random() < 0.3):
            ring.popleft()
            model.popleft()
        if step % 97 == 0:
            check(ring, model)
        if rng.random() < 0.005:
            ring.clear()
            model.clear()
    check(ring, model)


def test_drops_past_compaction_move_the_bytes_out() -> None:
    rng = random.Random(1)
    ring = Ring()
    for seq in range(1, 4 * COMPACT_AFTER):
        ring.append(frame(seq, rng))
        if len(ring) > 10:
            ring.popleft()
    assert len(ring) == 10
    # What is kept in the buffer is at most the live frames plus what waits to be compacted.
    assert len(ring._data) <= 2 * COMPACT_AFTER * 3 * 40
    assert len(ring._seq) < 2 * COMPACT_AFTER
    assert ring.after(0)[-1][SEQ] == 4 * COMPACT_AFTER - 1


def test_the_terminal_flag_and_missing_text_survive() -> None:
    ring = Ring()
    ring.append((1, b"a", False, "answer", "hi", 1.0))
    ring.append((2, b"b", True, "answer", None, 2.0))
    assert list(ring) == [
        (1, b"a", False, "answer", "hi", 1.0),
        (2, b"b", True, "answer", None, 2.0),
    ]


def test_an_index_outside_the_ring_raises() -> None:
    ring = Ring()
    ring.append((1, b"a", False, "answer", "hi", 1.0))
    with pytest.raises(IndexError):
        ring[1]
    with pytest.raises(IndexError):
        ring[-2]
