"""Upstream API keys stay secret end to end: a worker and an edge against a fake upstream that
quotes the key it was sent (401), dumps the request's headers (500), or is called with a key that
httpx refuses to send and quotes (a trailing newline, for Anthropic and the moderation endpoint).
The keys appear in no SSE event, no snapshot, no edge answer and no line of either log.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.upstream import FakeUpstream

from .procs import Stack
from .sse import create, read_all
from .test_models_upstreams import read_whole

pytestmark = pytest.mark.integration

OPENAI_KEY = f"sk-secret-openai-{secrets.token_hex(8)}"
ANTHROPIC_KEY = f"sk-ant-secret-{secrets.token_hex(8)}"
MODERATION_KEY = f"sk-secret-moderation-{secrets.token_hex(8)}"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY, MODERATION_KEY)


@pytest.fixture(scope="module")
def gen_settings(fake: FakeUpstream) -> dict[str, Any]:
    return {
        "openai_base_url": f"{fake.url}/v1",
        "openai_api_key": OPENAI_KEY,
        # Pasted with its newline: httpx refuses the header and quotes its value.
        "anthropic_base_url": fake.url,
        "anthropic_api_key": ANTHROPIC_KEY + "\n",
        # No /moderations on the fake: a verdict never comes, the view ends (fail closed).
        "moderation_url": f"{fake.url}/v1",
        "moderation_api_key": MODERATION_KEY + "\n",
    }


FAILURES = [
    # model, code, status, what the message says in place of the key
    ("openai/http401", "upstream_auth", 401, "Incorrect API key provided: [redacted]."),
    ("openai/http500", "upstream_unavailable", 500, "credential '[redacted]'"),
    ("anthropic/text", "upstream_dropped", None, "Illegal header value b'[redacted]\\n'"),
]


def assert_no_key(what: str, text: str) -> None:
    for key in KEYS:
        assert key not in text, f"a key in {what}: {text[:2000]}"


async def test_keys_appear_in_no_event_snapshot_answer_or_log(
    client: httpx.AsyncClient, gen_stack: Stack, fake: FakeUpstream
) -> None:
    seen: list[tuple[str, str]] = []
    for model, code, status, quoted in FAILURES:
        rid = await create(client, {"model": model, "input": f"secrets {model}"})
        got = await read_whole(client, rid)
        error = got.events[-1].data
        assert (error["type"], error["code"], error.get("status")) == ("error", code, status)
        assert quoted in error["message"], error["message"]  # quoted, and blanked
        seen.append((f"events of {model}", orjson.dumps([e.data for e in got.events]).decode()))
        seen.append((f"snapshot of {model}", (await client.get(f"/v1/responses/{rid}")).text))
    assert fake.find(lambda s: OPENAI_KEY in s.headers.get("authorization", "")), "key not sent"

    body = {"model": "demo", "input": "hello", "params": {"tokens": 20, "rate": 400},
            "views": ["moderated"]}  # fmt: skip
    rid = await create(client, body)
    view = await read_all(client, rid, view="moderated", wait_known_s=10, timeout_s=60)
    end = view.events[-1].data
    assert end["code"] == "moderation_unavailable" and "Illegal header" in end["message"], end
    seen.append(("the moderated view", orjson.dumps([e.data for e in view.events]).decode()))
    seen.append(("its snapshot", (await client.get(f"/v1/responses/{rid}")).text))
    for path in ("/v1/models", "/metrics", "/v1/stats"):
        seen.append((path, (await client.get(path)).text))

    seen.append(("Stack.report()", gen_stack.report()))
    for proc in gen_stack.procs:
        seen.append((f"the whole log of {proc.name}", proc.text()))
    assert all(proc.text() for proc in gen_stack.procs)  # the logs were there to look in
    for what, text in seen:
        assert_no_key(what, text)
