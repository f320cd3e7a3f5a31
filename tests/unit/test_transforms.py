"""The built-in transforms without Kafka: any split of the same raw text gives the same view,
and the runner's view events (seq, raw_seq, terminal) follow the contract."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.following import Following, View, following, outputs
from app.events import Event, encode
from app.settings import Settings

MARKDOWN = (
    "# Consumer groups\n\nA **group** shares a topic's partitions: each goes to one member. "
    "See [the docs](https://kafka.apache.org/documentation/) for `group.id`.\n\n"
    "- one *member* per partition\n- rebalances on join\n1. first\n\n"
    "```python\nconsumer = KafkaConsumer('t', group_id='g')\n```\n---\n> Note: the end."
)


def follow(views: list[str], options: dict | None = None, **overrides: object) -> Following:
    entry = {"rid": "r1", "partition": 0, "created": 0.0, "views": views, "options": options}
    return following(Settings(**overrides), entry)  # type: ignore[arg-type]


def run(f: Following, pieces: list[str], end: str = "done") -> dict[str, list[Event]]:
    raw = [Event("r1", "delta", "answer", i + 1, float(i), p) for i, p in enumerate(pieces)]
    raw.append(Event("r1", end, "answer", len(raw) + 1, 99.0, retriable=end == "error"))
    out: dict[str, list[Event]] = {}
    for event in raw:
        for topic, ev in outputs(f, event):
            out.setdefault(topic.rsplit(".", 1)[-1], []).append(ev)
    return out


def text(events: list[Event]) -> str:
    return "".join(e.text or "" for e in events)


def splits(text: str) -> st.SearchStrategy[list[str]]:
    cuts = st.lists(st.integers(1, max(1, len(text) - 1)), max_size=40, unique=True)

    def cut(at: list[int]) -> list[str]:
        edges = [0, *sorted(at), len(text)]
        return [text[a:b] for a, b in zip(edges, edges[1:], strict=False)]

    return cuts.map(cut)


WHOLE = run(follow(["sentences", "plain", "markdown", "moderated"],
                   {"moderation": {"redact": [r"\bpartition\b"]}}), [MARKDOWN])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(splits(MARKDOWN))
def test_any_split_gives_the_same_views(pieces: list[str]) -> None:
    f = follow(["sentences", "plain", "markdown", "moderated"],
               {"moderation": {"redact": [r"\bpartition\b"]}})  # fmt: skip
    got = run(f, pieces)
    assert [e.text for e in got["sentences"]] == [e.text for e in WHOLE["sentences"]]
    for name in ("plain", "markdown", "moderated"):
        assert text(got[name]) == text(WHOLE[name]), name


def test_views_have_contiguous_seqs_raw_seqs_and_the_raw_terminal() -> None:
    got = run(follow(["sentences", "markdown"]), ["One. Two", " three. ", "Four"], end="error")
    for events in got.values():
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.raw_seq for e in events] == sorted(e.raw_seq or 0 for e in events)
        assert events[-1].type == "error" and events[-1].retriable is True
        assert events[-1].raw_seq == 4 and events[-1].ts == 99.0
    assert [e.text for e in got["sentences"][:-1]] == ["One. ", "Two three. ", "Four"]
    assert got["sentences"][0].ts == 0.0  # ts is the raw event's: a replay writes the same bytes


def test_plain_strips_markup_and_announces_or_skips_code() -> None:
    announced = text(run(follow(["plain"]), [MARKDOWN])["plain"])
    assert announced.startswith("Consumer groups\n\nA group shares")
    assert "the docs for group.id." in announced and "one member per partition\n" in announced
    assert "Code block.\n" in announced and "KafkaConsumer" not in announced
    assert "---" not in announced and "Note: the end." in announced
    skipped = text(run(follow(["plain"], plain_code="skip"), [MARKDOWN])["plain"])
    assert "Code block" not in skipped and "KafkaConsumer" not in skipped


def test_markdown_closes_an_unterminated_fence() -> None:
    got = run(follow(["markdown"]), ["Here:\n```py\nprint(1)", "\nx = 2"])
    assert text(got["markdown"]) == "Here:\n```py\nprint(1)\nx = 2\n```\n"
    closed = run(follow(["markdown"]), ["- a\n- b"])
    assert text(closed["markdown"]) == "- a\n- b\n"


def test_moderation_redacts_across_token_splits_and_holds_back() -> None:
    f = follow(["moderated"], {"moderation": {"redact": [r"\d{3}-\d{4}"]}},
               moderation_holdback_chars=8)  # fmt: skip
    first = outputs(f, Event("r1", "delta", "answer", 1, 0.0, "call 555-"))
    assert text([e for _, e in first]) == "c"  # all but the hold-back window
    rest = run(f, [])  # the terminal flushes (seq continues from the same follower)
    assert text(rest["moderated"]) == "all 555-"
    whole = run(follow(["moderated"], {"moderation": {"redact": [r"\d{3}-\d{4}"]}}),
                ["call 555-", "1234 now"])  # fmt: skip
    assert text(whole["moderated"]) == "call [redacted] now"


def test_moderation_block_ends_the_view_with_moderated() -> None:
    got = run(follow(["moderated"], {"moderation": {"block": [r"secret"]}}),
              ["nothing here. ", "the sec", "ret is out", " more"])  # fmt: skip
    events = got["moderated"]
    assert events[-1].type == "error" and events[-1].code == "moderated"
    assert events[-1].retriable is False and "secret" not in text(events)
    assert [e.type for e in events].count("error") == 1


def test_server_wide_rules_apply_beside_the_requests() -> None:
    f = follow(["moderated"], {"moderation": {"redact": ["b+"]}}, moderation_redact="a+||c+")
    assert text(run(f, ["xaaybbzcc"])["moderated"]) == "x[redacted]y[redacted]z[redacted]"


def test_sources_are_transformed_apart_and_source_done_passes_through() -> None:
    f = follow(["sentences"])
    raw = [
        Event("r1", "delta", "a", 1, 0.0, "Alpha one"),
        Event("r1", "delta", "b", 2, 0.0, "Beta. Two"),
        Event("r1", "delta", "a", 3, 0.0, " more."),
        Event("r1", "source.done", "a", 4, 0.0),
        Event("r1", "done", "answer", 5, 0.0),
    ]
    got = [(e.type, e.source, e.text) for ev in raw for _, e in outputs(f, ev)]
    assert got == [
        ("sentence", "b", "Beta. "),
        ("sentence", "a", "Alpha one more."),
        ("source.done", "a", None),
        ("sentence", "b", "Two"),
        ("done", "answer", None),
    ]


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, key: str, value: bytes, partition: int) -> object:
        self.sent.append((topic, value))
        return None


def test_a_read_that_begins_past_a_responses_start_goes_back_for_it() -> None:
    """A batch fetched before a response's seek: its transforms must not start mid-stream
    (the view's seq 1 would then carry other text than a replay's seq 1)."""
    from agents.views import Follower

    pub = FakePublisher()
    follower = Follower(Settings(), pub)  # type: ignore[arg-type]
    f = follow(["sentences"])
    f.start = 40
    follower.active["r1"] = f
    raw = [Event("r1", "delta", "answer", i, 0.0, f"S{i}. ") for i in (1, 2, 3)]
    follower._on_record(b"r1", encode(raw[2]))
    assert pub.sent == [] and follower._seeks == {0: 40}
    for event in raw:
        follower._on_record(b"r1", encode(event))
    assert [orjson.loads(v)["text"] for _, v in pub.sent] == ["S1. ", "S2. "]
    assert [orjson.loads(v)["seq"] for _, v in pub.sent] == [1, 2]


def test_a_batch_with_many_events_past_the_start_goes_back_once() -> None:
    """The demo page's views, CI: a batch fetched before a new response's seek held several of
    its later events; each counted as a read that missed, and the third ended the views with
    view_unavailable ("raw events before seq 8 are gone") although nothing was gone."""
    from agents.views import Follower

    pub = FakePublisher()
    follower = Follower(Settings(), pub)  # type: ignore[arg-type]
    f = follow(["sentences"])
    f.start = 40
    follower.active["r1"] = f
    raw = [Event("r1", "delta", "answer", i, 0.0, f"S{i}. ") for i in range(1, 11)]
    for event in raw[7:]:  # one batch: seqs 8, 9, 10
        follower._on_record(b"r1", encode(event))
    assert pub.sent == [] and follower._seeks == {0: 40} and "r1" in follower.active
    follower._seeks_applied()  # the next batch reads from the start
    for event in raw:
        follower._on_record(b"r1", encode(event))
    assert [orjson.loads(v)["seq"] for _, v in pub.sent] == list(range(1, 10))


def test_rules_with_inline_flags_combine() -> None:
    # The docs' own example, `(?i)forbidden`, made the combined pattern `(?:(?i)forbidden)`,
    # which Python 3.11 refuses: the transform could not be built and the view never ran.
    f = follow(["moderated"], {"moderation": {"block": ["(?i)forbidden", "x+"],
                                              "redact": ["(?ms)a.b", "(?i)secret"]}})  # fmt: skip
    got = run(f, ["a\nb and SECRET. ", "then FORBIDDEN"])["moderated"]
    assert got[-1].code == "moderated"
    assert text(got) == "[redacted] and [redacted]. then "[: len(text(got))]


class Boom:
    def feed(self, event: Event) -> list[dict]:
        if event.seq == 2:
            raise ValueError("input this transform cannot take")
        return []


def test_a_transform_that_raises_ends_its_own_view_only() -> None:
    f = follow(["markdown"])
    f.views += [View("boom", "t.views.boom", Boom()), View("unbuilt", "t.views.unbuilt", None)]
    got = run(f, ["a", "b", "c"])
    assert text(got["markdown"]) == "abc\n" and got["markdown"][-1].type == "done"
    for name, raw_seq in (("boom", 2), ("unbuilt", 1)):
        [ended] = got[name]
        assert (ended.type, ended.code, ended.seq, ended.raw_seq) == ("error", "view_failed", 1,
                                                                      raw_seq)  # fmt: skip
