"""The edge's replay from storage (archive.py through history.py): the frames a stored stream
gives are exactly those a Kafka catch-up read makes of the same values, after any cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app import events
from app.edge import sse
from app.edge.archive import Archive
from app.edge.history import History
from app.edge.metrics import Metrics
from app.edge.tracked import DATA, Tracked, view_key
from app.errors import NotRetained
from app.settings import Settings
from app.storage import migrate
from app.storage.records import RAW, StoredResponse
from app.storage.store import Store

RID = "resp_archived"


def values(n: int, source: str = "answer") -> list[bytes]:
    out = [
        events.encode(events.Event(RID, "delta", source, seq, 1.0 + seq, f"t{seq}\u2603 "))
        for seq in range(1, n)
    ]
    return [*out, events.encode(events.Event(RID, "done", source, n, 99.0))]


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await migrate.upgrade(url)
    s = Store.connect(url)
    raw, view = (
        values(12),
        [b'{"rid":"%s","type":"done","source":"answer","seq":1,"ts":1}' % RID.encode()],
    )
    row = StoredResponse(
        id=RID, status="done", partition=1, created_ms=5.0, first_token_ms=2.0, finished_ms=99.0,
        models={}, request=None, sources={"answer": "x"}, usage=None, error=None,
        views=("sentences",), last_seq=12, logs={RAW: raw, "sentences": view},
    )  # fmt: skip
    await s.put([row])
    yield s
    await s.close()


def history(store: Store, settled: list[tuple[str, int]]) -> History:
    def on_settled(tracked: Tracked, status: str, seq: int) -> None:
        settled.append((status, seq))
        tracked.settle(status, seq)

    metrics = Metrics()
    return History(
        Settings(), metrics, pool=None, settled=on_settled, archive=Archive(store, metrics)
    )  # type: ignore[arg-type]


async def read(h: History, tracked: Tracked, after: int) -> list[bytes]:
    return [f[DATA] async for batch in h.read(tracked, after) for f in batch]


async def test_found_only_in_storage(store: Store) -> None:
    archive = Archive(store, Metrics())
    tracked = await archive.find(RID)
    assert tracked is not None and tracked.archived and tracked.final_seq == 12
    assert tracked.status == "done" and tracked.views == ("sentences",)
    assert await archive.find("resp_unknown") is None


@pytest.mark.parametrize("after", [0, 1, 7, 11])
async def test_frames_after_any_cursor_are_kafkas(store: Store, after: int) -> None:
    tracked = await Archive(store, Metrics()).find(RID)
    assert tracked is not None
    expected = [sse.frame(events.decode(v), v) for v in values(12)][after:]
    assert await read(history(store, []), tracked, after) == expected


async def test_a_view_and_a_stream_not_stored(store: Store) -> None:
    settled: list[tuple[str, int]] = []
    h = history(store, settled)
    view = Tracked(view_key(RID, "sentences"), 1, archived=True)
    assert len(await read(h, view, 0)) == 1 and settled == [("done", 1)]
    with pytest.raises(NotRetained):
        await read(h, Tracked(view_key(RID, "plain"), 1, archived=True), 0)
    with pytest.raises(NotRetained):
        await read(h, Tracked("resp_other", 1, archived=True), 0)
