"""The client's resume loop against a fake edge in-process (tests/fakes/edge.py): streams that
end early, fail mid-body, replay copies, skip a seq, answer 503/204/4xx; sync and async."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.client import (
    AsyncClient,
    Backoff,
    BadRequest,
    Client,
    Forbidden,
    GapError,
    NotRetained,
    ProtocolError,
    RateLimited,
    RetriesExhausted,
    Unauthorized,
    UnknownResponse,
)
from app.client.resume import Positions, Resume
from tests.fakes.edge import Connection, FakeEdge, script

RID = "resp_one"
TEXTS = [f"t{i} " for i in range(1, 10)]  # seq 1..9 deltas, 10 done
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)


@pytest.fixture
def edge() -> FakeEdge:
    return FakeEdge({RID: script(RID, TEXTS)})


@pytest.fixture
def client(edge: FakeEdge) -> Iterator[Client]:
    c = Client("http://edge", backoff=FAST, transport=edge.transport(), api_key=None)
    c.sleep = SLEPT.append  # record the delays instead of waiting them
    SLEPT.clear()
    yield c
    c.close()


SLEPT: list[float] = []


def seqs(events: list[Any]) -> list[int]:
    return [e.seq for e in events]


def test_a_whole_stream(client: Client, edge: FakeEdge) -> None:
    events = list(client.events(RID))
    assert seqs(events) == list(range(1, 11))
    assert "".join(e.text for e in events) == "".join(TEXTS)
    assert events[-1].terminal and events[-1].type == "done"
    assert edge.cursors == ["0"]


def test_streams_ending_early_resume_from_the_last_seq(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(cut_after=3), Connection(cut_after=0), Connection(cut_after=4)]
    events = list(client.events(RID))
    assert seqs(events) == list(range(1, 11))
    assert edge.cursors == ["0", "3", "3", "7"]
    # Progress resets the backoff: the empty connection's drop is the second in a row.
    assert len(SLEPT) == 3 and SLEPT[1] > SLEPT[0] * 0.5


def test_a_transport_error_mid_body_resumes(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(fail_after=2, chunk=7), Connection(fail_after=5, chunk=1)]
    assert seqs(list(client.events(RID))) == list(range(1, 11))
    assert edge.cursors == ["0", "2", "7"]


def test_copies_from_the_server_are_dropped(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(cut_after=5), Connection(replay=3)]
    assert seqs(list(client.events(RID))) == list(range(1, 11))


def test_a_gap_raises(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(cut_after=2), Connection(skip=4)]
    got: list[int] = []
    with pytest.raises(GapError) as caught:
        for event in client.events(RID):
            got.append(event.seq)
    assert got == [1, 2, 3]
    assert (caught.value.expected, caught.value.got) == (4, 5)


def test_503_is_retried_with_its_retry_after(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(status=503, headers={"Retry-After": "0.2"}), Connection(status=503)]
    assert seqs(list(client.events(RID))) == list(range(1, 11))
    assert SLEPT[0] == 0.2
    assert 0.01 <= SLEPT[1] <= 0.02  # second failure: base * 2, half of it jitter


def test_the_servers_retry_field_sets_the_backoff(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(retry_ms=40, cut_after=1), Connection(cut_after=0)]
    list(client.events(RID))
    assert 0.02 <= SLEPT[0] <= 0.04 and 0.025 <= SLEPT[1] <= 0.05  # 0.08 capped at 0.05


def test_attempts_are_bounded(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(cut_after=2)] + [Connection(cut_after=0)] * 10
    got: list[int] = []
    with pytest.raises(RetriesExhausted) as caught:
        for event in client.events(RID):
            got.append(event.seq)
    assert got == [1, 2]
    assert caught.value.last_event_id == "2"
    assert len(edge.cursors) == 1 + FAST.attempts  # then that many reconnects in a row


def test_204_ends_the_iteration(client: Client, edge: FakeEdge) -> None:
    assert list(client.events(RID, after=10)) == []
    assert seqs(list(client.events(RID, after=8))) == [9, 10]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "unknown_response", UnknownResponse),
        (410, "not_retained", NotRetained),
        (400, "cursor_beyond_end", BadRequest),
        (401, "unauthorized", Unauthorized),
        (403, "moderated_response", Forbidden),
    ],
)
def test_error_statuses_raise(
    client: Client, edge: FakeEdge, status: int, code: str, error: type[Exception]
) -> None:
    edge.plan = [Connection(status=status, code=code)]
    with pytest.raises(error) as caught:
        list(client.events(RID))
    assert caught.value.code == code  # type: ignore[attr-defined]


def test_429_carries_retry_after(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(status=429, code="too_many_connections", headers={"Retry-After": "7"})]
    with pytest.raises(RateLimited) as caught:
        list(client.events(RID))
    assert caught.value.retry_after == 7.0


def test_an_unknown_id_raises(client: Client) -> None:
    with pytest.raises(UnknownResponse):
        list(client.events("resp_nope"))
    with pytest.raises(UnknownResponse):
        client.get("resp_nope")


def test_a_view_is_asked_for_and_resumed_by_its_own_seq(client: Client, edge: FakeEdge) -> None:
    edge.plan = [Connection(cut_after=4)]
    assert seqs(list(client.events(RID, view="sentences"))) == list(range(1, 11))
    stream_requests = [r for r in edge.requests if r.url.path.endswith("/events")]
    assert [r.url.params.get("view") for r in stream_requests] == ["sentences", "sentences"]


def test_multiplexed_streams_resume_with_the_vector(client: Client, edge: FakeEdge) -> None:
    edge.streams["resp_two"] = script("resp_two", ["a", "b"], terminal="cancelled")
    edge.plan = [Connection(cut_after=5), Connection(fail_after=3)]
    events = list(client.events_many({RID: 0, "resp_two": 0}))
    by = {rid: [e.seq for e in events if e.rid == rid] for rid in (RID, "resp_two")}
    assert by == {RID: list(range(1, 11)), "resp_two": [1, 2, 3]}
    assert edge.cursors == [
        "resp_one:0,resp_two:0",
        "resp_one:3,resp_two:2",
        "resp_one:5,resp_two:3",
    ]
    stream = client.events_many([RID, "resp_two"])
    assert len(list(stream)) == 13 and stream.last_event_id == "resp_one:10,resp_two:3"
    assert list(client.events_many({RID: 10, "resp_two": 3})) == []  # 204


def test_create_get_cancel_models_and_credentials(edge: FakeEdge) -> None:
    edge.read_token = "tok-1"
    with Client("http://edge", api_key="trk_key", transport=edge.transport()) as client:
        created = client.create(model="demo", input="hello")
        assert (created.id, created.read_token) == ("resp_fake", "tok-1")
        assert [e.text for e in client.events(created)] == ["hello", ""]
        assert client.get(created.id).text == "hello"
        assert client.cancel(created).cancelled
        assert client.models() == ["demo"]
    auth = [(r.method, r.url.path, r.headers.get("authorization")) for r in edge.requests]
    assert auth == [
        ("POST", "/v1/responses", "Bearer trk_key"),
        ("GET", "/v1/responses/resp_fake/events", "Bearer tok-1"),
        ("GET", "/v1/responses/resp_fake", "Bearer tok-1"),
        ("POST", "/v1/responses/resp_fake/cancel", "Bearer trk_key"),
        ("GET", "/v1/models", None),
    ]


def test_a_refused_read_token_falls_back_to_the_api_key(edge: FakeEdge) -> None:
    edge.read_token = "expired"
    edge.plan = [Connection(cut_after=1), Connection(status=401, code="unauthorized")]
    with Client("http://edge", api_key="trk_key", transport=edge.transport()) as client:
        created = client.create(model="demo", input="hi")
        client.sleep = SLEPT.append
        assert [e.seq for e in client.events(created)] == [1, 2]
    reads = [r.headers.get("authorization") for r in edge.requests if r.method == "GET"]
    assert reads == ["Bearer expired", "Bearer expired", "Bearer trk_key"]


def test_positions_rule() -> None:
    from app.client.events import Event

    def ev(rid: str, seq: int, kind: str = "delta") -> Event:
        return Event.from_data({"rid": rid, "seq": seq, "type": kind, "source": "answer"})

    pos = Positions({"a": 0, "b": 2}, multiplexed=True)
    assert pos.accept(ev("a", 1)) and not pos.accept(ev("a", 1)) and not pos.accept(ev("b", 2))
    assert pos.accept(ev("b", 3, "done")) and not pos.finished
    assert not pos.accept(ev("b", 4))  # nothing after a terminal event counts
    assert pos.last_event_id() == "a:1,b:3"
    with pytest.raises(GapError):
        pos.accept(ev("a", 3))


def test_backoff_doubles_from_the_hint_and_stays_under_the_cap() -> None:
    backoff = Backoff(attempts=3, base_s=1.0, cap_s=5.0)
    assert [backoff.delay(n, None, lambda: 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.5]
    assert [backoff.delay(n, 0.1, lambda: 1.0) for n in (1, 2)] == [0.1, 0.2]
    resume = Resume(Positions({"r": 0}, multiplexed=False), backoff, [], None, lambda: 1.0)
    assert [resume.dropped("x") for _ in range(3)] == [1.0, 2.0, 4.0]
    with pytest.raises(RetriesExhausted):
        resume.dropped("x")


async def test_async_client_resumes_the_same_way(edge: FakeEdge) -> None:
    edge.plan = [Connection(cut_after=3), Connection(fail_after=2, chunk=5), Connection(replay=2)]
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    async with AsyncClient("http://edge", backoff=FAST, transport=edge.async_transport()) as c:
        c.sleep = sleep
        events = [e async for e in c.events(RID)]
        assert seqs(events) == list(range(1, 11))
        assert edge.cursors == ["0", "3", "5"]
        created = await c.create(model="demo", input="x")
        assert (await c.get(created)).status == "done"
        assert (await c.cancel(created)).status == "cancelling"
        assert await c.models() == ["demo"]
        edge.plan = [Connection(status=410, code="not_retained")]
        with pytest.raises(NotRetained):
            [e async for e in c.events(RID)]
        stream = c.events_many([RID, created])
        assert len([e async for e in stream]) == 12


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/event-stream", b"id: 1\ndata: not json\n\n"),
        ("text/event-stream", b'id: 1\ndata: {"rid": "r", "type": "delta"}\n\n'),  # no seq
        ("application/json", b"{}"),
    ],
)
def test_what_is_not_the_protocol_raises(content_type: str, body: bytes) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    with Client("http://edge", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(ProtocolError):
            list(client.events(RID))
