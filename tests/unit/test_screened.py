"""The moderated view with an external classifier, without Kafka: chunking (never per token),
decisions (flagged, no verdict: block or allow), the endpoint adapter against the fake
server, and the runner's lanes (an awaiting view fed in order beside the synchronous ones)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from agents.lanes import awaits
from agents.transforms.base import Spec
from agents.transforms.classifier import CLEAN, ClassifierUnavailable, Verdict
from agents.transforms.moderation import Moderated
from agents.transforms.moderation_api import ModerationEndpoint
from agents.transforms.screened import Screened, chunk_end, moderated
from agents.views import Follower, following
from app.events import Event, encode
from app.settings import Settings
from tests.fakes.moderation import FakeModeration

ANSWER = "Kafka keeps logs. Groups share partitions.\nA rebalance moves them. The end"


class FakeClassifier:
    def __init__(self, word: str = "rebalance", down: bool = False) -> None:
        self.word, self.down = word, down
        self.seen: list[str] = []
        self.closed = False

    async def classify(self, text: str) -> Verdict:
        self.seen.append(text)
        await asyncio.sleep(0)
        if self.down:
            raise ClassifierUnavailable("connection refused")
        return Verdict(True, ("harassment",)) if self.word in text else CLEAN

    async def aclose(self) -> None:
        self.closed = True


def raw(pieces: list[str]) -> list[Event]:
    out = [Event("r1", "delta", "answer", i + 1, 0.0, p) for i, p in enumerate(pieces)]
    return [*out, Event("r1", "done", "answer", len(out) + 1, 0.0)]


async def screen(pieces: list[str], classifier: FakeClassifier, **s: Any) -> list[dict[str, Any]]:
    view = Screened(Spec("r1", {}, Settings(moderation_holdback_chars=8, **s)), classifier)
    return [item for event in raw(pieces) for item in await view.feed(event)]


def tokens(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_chunks_end_at_a_sentence_or_line_or_past_the_window() -> None:
    assert chunk_end("One. Two", 64) == 5
    assert chunk_end("One\nTwo. Three? x", 64) == 16
    assert chunk_end("no end yet", 64) == 0 and chunk_end("x" * 65, 64) == 65
    assert chunk_end("3.14 is pi", 64) == 0  # a decimal point is no sentence end


async def test_clean_text_is_released_in_chunks_never_per_token() -> None:
    classifier = FakeClassifier(word="forbidden")
    out = await screen(tokens(ANSWER), classifier)
    assert "".join(o.get("text", "") for o in out) == ANSWER
    assert len(classifier.seen) <= 5 < len(tokens(ANSWER))
    # The classifier sees the chunk after (up to a window of) the text already released.
    assert classifier.seen[1] == classifier.seen[0] + "Groups share partitions.\n"


async def test_a_flagged_chunk_ends_the_view_naming_the_categories() -> None:
    out = await screen(tokens(ANSWER), FakeClassifier())
    *text, end = out
    assert end["type"] == "error" and end["code"] == "moderated" and end["retriable"] is False
    assert "harassment" in end["message"]
    assert "rebalance" not in "".join(t["text"] for t in text)
    assert "".join(t["text"] for t in text) == "Kafka keeps logs. Groups share partitions.\n"


async def test_no_verdict_blocks_by_default_or_releases_when_allowed() -> None:
    blocked = await screen(tokens(ANSWER), FakeClassifier(down=True))
    assert blocked == [{
        "type": "error", "source": "answer", "retriable": True, "code": "moderation_unavailable",
        "message": "no moderation verdict, so nothing more is released: connection refused",
    }]  # fmt: skip
    allowed = await screen(tokens(ANSWER), FakeClassifier(down=True), moderation_on_error="allow")
    assert "".join(o["text"] for o in allowed) == ANSWER


async def test_rules_still_apply_first() -> None:
    rules = {"moderation": {"redact": ["Kafka"], "block": ["The end"]}}
    s = Settings(moderation_holdback_chars=8)
    view = Screened(Spec("r1", rules, s), FakeClassifier("x"))
    out = [item for event in raw(tokens(ANSWER)) for item in await view.feed(event)]
    assert out[-1]["code"] == "moderated" and "[redacted] keeps" in out[0]["text"]


async def test_the_endpoint_adapter_reads_flagged_and_categories() -> None:
    fake = FakeModeration(words=("rebalance",)).start()
    try:
        s = Settings(moderation_url=fake.url, moderation_api_key="k1", moderation_model="m1")
        endpoint = ModerationEndpoint(s)
        assert await endpoint.classify("a calm text") == CLEAN
        assert await endpoint.classify("a Rebalance") == Verdict(True, ("harassment",))
        await endpoint.aclose()
        assert fake.headers[0]["authorization"] == "Bearer k1"
        down = ModerationEndpoint(Settings(moderation_url="http://127.0.0.1:9/v1"))
        with pytest.raises(ClassifierUnavailable):
            await down.classify("x")
    finally:
        fake.stop()


def test_the_view_awaits_only_with_an_endpoint() -> None:
    assert isinstance(moderated(Spec("r1")), Moderated) and not awaits(moderated(Spec("r1")))
    assert awaits(moderated(Spec("r1", settings=Settings(moderation_url="http://x/v1"))))


class FuturePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, topic: str, key: str, value: bytes, partition: int) -> asyncio.Future[int]:
        self.sent.append((topic.rsplit(".", 1)[-1], orjson.loads(value)))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(len(self.sent))
        return future


async def test_the_runner_feeds_an_awaiting_view_in_a_lane_in_seq_order() -> None:
    pub = FuturePublisher()
    follower = Follower(Settings(moderation_holdback_chars=8), pub)  # type: ignore[arg-type]
    entry = {"rid": "r1", "partition": 0, "created": 0.0, "views": ["markdown", "moderated"]}
    f = following(follower.settings, entry)
    classifier = FakeClassifier(word="forbidden")
    f.views[1].transform = Screened(Spec("r1", {}, follower.settings), classifier)
    f.views[1].awaits = True
    follower.active["r1"] = f
    follower._lanes(f)
    for event in raw(tokens(ANSWER)):
        follower._on_record(b"r1", encode(event))
    assert "r1" in follower.active  # markdown ended; moderated is still being judged
    lane = f.views[1].lane
    assert lane is not None
    await asyncio.wait_for(lane.task, 5)
    assert "r1" not in follower.active and follower.finished == {"r1": 0}
    moderated_events = [e for topic, e in pub.sent if topic == "moderated"]
    assert [e["seq"] for e in moderated_events] == list(range(1, len(moderated_events) + 1))
    assert "".join(e.get("text", "") for e in moderated_events) == ANSWER
    assert moderated_events[-1]["type"] == "done" and classifier.closed
