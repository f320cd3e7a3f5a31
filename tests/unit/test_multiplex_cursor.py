"""The multiplexed stream's cursor (`RID1:12,RID2:0`), its framing, and the merge of several
readers fed by hand (no Kafka): per-response order, the id vector, cleanup."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import events
from app.edge import multiplex, sse
from app.edge.fanout import Fanout
from app.edge.resume import Reader
from app.errors import BadCursor, BadRequest
from app.events import Event
from app.settings import Settings
from tests.unit.test_reader import make

SETTINGS = Settings(topic_prefix="t", edge_subscriber_queue=64)


def test_parse_streams() -> None:
    assert multiplex.parse_streams("a:12,b:0, c", 16) == {"a": 12, "b": 0, "c": 0}
    assert list(multiplex.parse_streams("z:1,a:2", 16)) == ["z", "a"]  # order kept
    assert multiplex.parse_streams("ns:x:3", 16) == {"ns:x": 3}  # the last colon splits


@pytest.mark.parametrize(
    "raw", ["a:-1", "a:x", "a:1.5", ":3", "a:1,a:2", "a:1,,b:2", "a:" + "9" * 19]
)
def test_malformed_streams_are_bad_cursors(raw: str) -> None:
    with pytest.raises(BadCursor):
        multiplex.parse_streams(raw, 16)


def test_missing_or_too_many_streams() -> None:
    for raw in (None, ""):
        with pytest.raises(BadRequest):
            multiplex.parse_streams(raw, 16)
    with pytest.raises(BadRequest):
        multiplex.parse_streams(",".join(f"r{i}:0" for i in range(17)), 16)


def test_last_event_id_vector_wins_over_the_query() -> None:
    streams = {"a": 0, "b": 5, "c": 0}
    assert multiplex.resume_at(streams, None) == streams
    assert multiplex.resume_at(streams, "a:7,b:9") == {"a": 7, "b": 9, "c": 0}
    with pytest.raises(BadCursor):
        multiplex.resume_at(streams, "a:7,zz:1")
    with pytest.raises(BadCursor):
        multiplex.resume_at(streams, "a:seven")


def test_relabel_keeps_the_frame_and_changes_only_its_id() -> None:
    frame = sse.frame(Event(rid="a", type="delta", seq=13, ts=1.0, text="x"))
    assert multiplex.frame_head(frame) == (13, "delta")
    out = multiplex.relabel(frame, multiplex.vector({"a": 13, "b": 5}))
    assert out == b"id: a:13,b:5" + frame[len(b"id: 13") :]


def feed(fanout: Fanout, rid: str, seq: int, type_: str = events.DELTA) -> None:
    text = f"{rid}{seq} " if type_ == events.DELTA else None
    event = Event(rid=rid, type=type_, seq=seq, ts=1.0, text=text)
    fanout.on_event(0, seq, rid.encode(), events.encode(event), 0.0)


def ids(frame: bytes) -> str:
    return frame.split(b"\n", 1)[0][4:].decode()


async def test_merge_keeps_each_response_in_order_and_ends_after_every_terminal() -> None:
    fanout, reader = make(SETTINGS)
    for seq in (1, 2, 3):
        feed(fanout, "a", seq)
        feed(fanout, "b", seq)
    feed(fanout, "c", 1)
    feed(fanout, "c", 2, events.DONE)  # finished, and the cursor holds it: not opened
    tracked = [fanout.responses[r] for r in ("a", "b", "c")]
    mux = multiplex.Multiplex(reader, heartbeat_s=5.0)
    body = await mux.open(list(zip(tracked, [1, 0, 2], strict=True)))
    assert body is not None
    got: list[bytes] = []
    writes: list[bytes] = []

    async def read() -> None:
        async for chunk in body:  # every frame ready at a wake-up, in one write
            writes.append(chunk)
            got.extend(f + b"\n\n" for f in chunk.split(b"\n\n") if f)

    task = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    feed(fanout, "a", 4, events.DONE)
    feed(fanout, "b", 4)
    feed(fanout, "b", 5, events.CANCELLED)
    await asyncio.wait_for(task, 2)
    per: dict[str, list[int]] = {}
    for frame in got:
        event = events.decode(frame.split(b"data: ", 1)[1].strip())
        per.setdefault(event.rid, []).append(event.seq)
    assert per == {"a": [2, 3, 4], "b": [1, 2, 3, 4, 5]}
    assert len(writes) < len(got)  # the backlogs and the burst of three went out coalesced
    assert ids(got[-1]) in ("a:4,b:5,c:2",)
    # Every id is the whole vector, and each position only grows.
    last = {"a": 1, "b": 0, "c": 2}
    for frame in got:
        vec = multiplex.resume_at(last, ids(frame))
        assert all(vec[r] >= last[r] for r in last) and list(vec) == ["a", "b", "c"]
        last = vec
    assert not any(t.subscribers for t in tracked)


async def test_all_finished_is_none_and_a_failed_open_leaves_no_subscription() -> None:
    fanout, reader = make(SETTINGS)
    feed(fanout, "a", 1, events.DONE)
    a = fanout.responses["a"]
    assert await multiplex.Multiplex(reader, 5.0).open([(a, 1)]) is None
    feed(fanout, "b", 1)

    class Failing(Reader):
        async def open(self, tracked, after):  # type: ignore[no-untyped-def]
            if tracked.rid == "b":
                raise BadCursor("no")
            return await super().open(tracked, after)

    with pytest.raises(BadCursor):
        await multiplex.Multiplex(Failing(fanout, reader.history, reader.metrics, 5.0), 5.0).open(
            [(a, 0), (fanout.responses["b"], 0)]
        )
    assert not a.subscribers


VECTORS = st.text() | st.lists(
    st.tuples(st.text(max_size=8), st.sampled_from(["", ":"]), st.text("0123456789-x ", max_size=4))
).map(lambda items: ",".join(f"{rid}{sep}{pos}" for rid, sep, pos in items))


@given(VECTORS, st.none() | VECTORS)
def test_any_streams_and_last_event_id_are_positions_or_a_400(
    raw: str, last_event_id: str | None
) -> None:
    try:
        positions = multiplex.resume_at(multiplex.parse_streams(raw, 16), last_event_id)
    except (BadCursor, BadRequest):
        return
    assert 0 < len(positions) <= 16
    assert all(rid and type(at) is int and at >= 0 for rid, at in positions.items())


@given(st.dictionaries(st.from_regex(r"[^,\s][^,]{0,20}", fullmatch=True).filter(
    lambda r: r == r.strip()), st.integers(0, 10**18 - 1), min_size=1, max_size=16))
def test_a_vector_reads_back(positions: dict[str, int]) -> None:
    assert multiplex.parse_vector(multiplex.vector(positions).decode()) == positions

