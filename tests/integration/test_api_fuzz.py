"""schemathesis against a real edge (uvicorn, a worker, Kafka): every operation of the served
OpenAPI document, a fixed number of examples each, derandomized, positive and negative inputs.
Passes only with no 5xx and every answer as documented (status, content type, body, headers).

Streams: a stream of a response in progress, or of a conversation, never ends by itself. The
fuzzer's own ids name nothing (a fast 404), so what a stream can serve comes from seeded
responses that have all finished (their streams end at the terminal event) and one conversation
with more turns' events than schemathesis reads of a stream (it stops after 20 events); a
cursor past everything it holds leaves the stream idle, which the short read timeout of stream
operations ends. Responses the fuzzer starts itself are never read: no id of theirs is reused.

Auth is on, as deployed: every case carries an API key (which reads anything), so the fuzzer
reaches past the 401 into each operation; the 401/403 answers have tests of their own
(test_auth.py).
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from .apikeys import bearer, create_key
from .conftest import started
from .procs import Edge, Stack

pytestmark = pytest.mark.integration
EXAMPLES = 40  # per operation
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
SEEN: dict[str, Counter[int]] = {}  # operation -> statuses answered, for the test after it
STREAMS = {"/v1/responses/{rid}/events", "/v1/events", "/v1/conversations/{cid}/events"}
# (connect, read) seconds. A stream's read timeout also bounds how long it is read in all, and
# is under the test stack's heartbeat (2 s), whose pings would keep an idle stream read.
STREAM_TIMEOUT = (5.0, 1.0)
TIMEOUT = (5.0, 10.0)
CONVERSATION = "fuzz-conversation"
TURNS = 3  # their events outnumber what schemathesis reads of one stream


@dataclass(frozen=True)
class Seeded:
    """Finished responses (plain, with views, moderated, cancelled) and a conversation."""

    rids: list[str]
    conversation: str
    key: str


@pytest.fixture(scope="module")
def fuzz_stack(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Unknown ids answer 404 after 50 ms, not the default wait; a conversation turn posted
    # while another is in flight answers 409 after half a second.
    with started(
        broker, tmp_path_factory, edge_unknown_wait_ms=50, conversation_wait_s=0.5, auth="on"
    ) as s:
        yield s


@pytest.fixture(scope="module")
def edge(fuzz_stack: Stack) -> Edge:
    return next(p for p in fuzz_stack.procs if isinstance(p, Edge))


@pytest.fixture(scope="module")
def seeded(fuzz_stack: Stack, edge: Edge) -> Seeded:
    key = create_key(fuzz_stack, "fuzz")
    with httpx.Client(base_url=edge.url, timeout=30.0, headers=bearer(key)) as client:
        demo = {"model": "demo", "input": "Seed one. Seed two.", "params": {"tokens": 6}}
        rids = [
            _create(client, demo),
            _create(client, {**demo, "views": ["sentences", "plain", "markdown", "citations"],
                             "sources": [{"id": 1, "title": "a"}]}),  # fmt: skip
            _create(client, {**demo, "views": ["moderated"]}),
            _create(client, {**demo, "params": {"tokens": 1000, "rate": 5}}),
        ]
        assert client.post(f"/v1/responses/{rids[-1]}/cancel").status_code == 202
        for _ in range(TURNS):  # each turn once the one before it is stored
            _create(client, {**demo, "conversation_id": CONVERSATION})
        for rid in rids:
            _finished(client, rid)
    return Seeded(rids, CONVERSATION, key)


@pytest.fixture(scope="module")
def api(edge: Edge, seeded: Seeded) -> Any:
    return schemathesis.openapi.from_url(f"{edge.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api")


@pytest.fixture(autouse=True)
def _nodeid_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 names each operation's subtest by rewriting `node._nodeid`, which
    # pytest 9.2 no longer has (it reads `_id`); the attribute it expects, for it alone.
    request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_edge_answers_as_documented(case: Any, seeded: Seeded) -> None:
    """No 5xx and no answer the document does not describe, for any input."""
    # Half the cases go to the seeds. The choice hashes the case (schemathesis refuses extra
    # strategies beside the document's examples), so it is as deterministic as the case.
    pick = zlib.crc32(repr((case.path_parameters, case.query, case.headers)).encode()) % 8
    if pick >= 4:
        _aim(case, seeded, pick)
    stream = case.operation.path in STREAMS
    try:
        got = case.call_and_validate(
            checks=CHECKS, timeout=STREAM_TIMEOUT if stream else TIMEOUT, headers=bearer(seeded.key)
        )
    finally:
        SEEN.setdefault(case.operation.label, Counter())
    SEEN[case.operation.label][got.status_code] += 1


def _aim(case: Any, seeded: Seeded, i: int) -> None:
    """Point the case at what the seeds hold, keeping its fuzzed cursors and options."""
    params = case.path_parameters or {}
    if "rid" in params:
        params["rid"] = seeded.rids[i % len(seeded.rids)]
    if "cid" in params:
        params["cid"] = seeded.conversation
    streams = (case.query or {}).get("streams")
    if isinstance(streams, str) and streams:
        items = streams.split(",")
        positions = [item.rpartition(":")[2] for item in items]
        case.query["streams"] = ",".join(
            f"{seeded.rids[(i + n) % len(seeded.rids)]}:{pos}" for n, pos in enumerate(positions)
        )


def _create(client: httpx.Client, body: dict[str, Any]) -> str:
    deadline = time.monotonic() + 60
    while True:
        got = client.post("/v1/responses", json=body)
        if got.status_code != 409 or time.monotonic() > deadline:  # 409: the turn before
            assert got.status_code == 201, got.text
            rid = got.json()["id"]
            assert isinstance(rid, str)
            if "conversation_id" in body:
                _finished(client, rid)
            return rid
        time.sleep(0.2)


def _finished(client: httpx.Client, rid: str) -> None:
    deadline = time.monotonic() + 60
    while client.get(f"/v1/responses/{rid}").json()["status"] == "in_progress":
        assert time.monotonic() < deadline, f"{rid} did not finish"
        time.sleep(0.1)


def test_fuzz_reached_every_operation(api: Any) -> None:
    """The run above sent cases to every operation (a schema that generates nothing passes)."""
    print("\n".join(f"{label}: {dict(sorted(c.items()))}" for label, c in sorted(SEEN.items())))
    labels = {r.ok().label for r in api.get_all_operations()}
    assert labels == set(SEEN)
    assert all(sum(c.values()) >= 10 for c in SEEN.values()), SEEN
