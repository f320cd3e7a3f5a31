"""`tokenrelay publish --id RID` (stdin in) and `tokenrelay tail RID` (events out), as
subprocesses against a real worker and edge."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import subprocess
import sys
from typing import Any

import pytest

from .procs import REPO, Edge, Stack, settings_env, up
from .sse import assert_contiguous, client_for, delta_text, read_all

pytestmark = pytest.mark.integration

LINES = ["alpha one\n", "bravo two\n", "charlie three\n", "echo four\n"]


def cli(stack: Stack, edge: Edge, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        env=settings_env(stack.settings_with(edge_port=edge.port)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def in_order(haystack: str, needles: list[str]) -> bool:
    at = 0
    for needle in needles:
        at = haystack.find(needle, at)
        if at < 0:
            return False
        at += len(needle)
    return True


async def test_publish_stdin_then_tail(stack: Stack) -> None:
    edge = await up(stack)
    rid = f"cli-{secrets.token_hex(6)}"
    published = await asyncio.to_thread(
        cli, stack, edge, "publish", "--id", rid, stdin="".join(LINES)
    )
    assert published.returncode == 0, published.stderr[-3000:]

    async with client_for(edge.url) as client:
        whole = await read_all(client, rid, wait_known_s=10)
    assert_contiguous(whole.events)
    assert delta_text(whole.events) == "".join(LINES)
    assert [e.type for e in whole.events[-2:]] == ["source.done", "done"]

    tailed = await asyncio.to_thread(cli, stack, edge, "tail", rid)
    assert tailed.returncode == 0, tailed.stderr[-3000:]
    words = [line.split()[0] for line in LINES]
    assert in_order(tailed.stdout, [*words, "done"]), tailed.stdout[-3000:]

    # --after N: only what follows seq N (lines read quickly may share one coalesced delta).
    tailed = await asyncio.to_thread(cli, stack, edge, "tail", rid, "--after", "2")
    assert tailed.returncode == 0, tailed.stderr[-3000:]
    seqs = [f'"seq":{e.seq},' for e in whole.events]
    assert in_order(tailed.stdout, seqs[2:]), tailed.stdout[-3000:]
    assert seqs[0] not in tailed.stdout and seqs[1] not in tailed.stdout, tailed.stdout


# ---- the HTTP API's commands (app/cli_api.py), on the module's shared worker and edge ----


def fast(tokens: int = 30, rate: int = 300) -> list[str]:
    return ["--param", f"tokens={tokens}", "--param", f"rate={rate}"]


def rid_of(stderr: str) -> str:
    found = re.search(r"tokenrelay: (resp_\S+)", stderr)
    assert found, stderr
    return found.group(1)


async def test_create_streams_the_text_then_get_and_models(shared: tuple[Stack, Edge]) -> None:
    stack, edge = shared
    made = await asyncio.to_thread(cli, stack, edge, "create", *fast(), "Explain", "Kafka.")
    assert made.returncode == 0, made.stderr[-3000:]
    rid = rid_of(made.stderr)
    got = await asyncio.to_thread(cli, stack, edge, "get", rid)
    assert got.returncode == 0, got.stderr
    snap = json.loads(got.stdout)
    assert snap["status"] == "done" and snap["id"] == rid
    assert made.stdout == snap["sources"]["answer"] + "\n"
    models = await asyncio.to_thread(cli, stack, edge, "models")
    assert models.returncode == 0 and "demo" in models.stdout.split()
    # --json: every event a line of JSON, contiguous; read --after resumes; tail (on the client)
    made = await asyncio.to_thread(cli, stack, edge, "create", "--json", *fast(20), "x")
    assert made.returncode == 0, made.stderr[-3000:]
    lines = [json.loads(line) for line in made.stdout.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["type"] == "done"
    rid = rid_of(made.stderr)
    read = await asyncio.to_thread(cli, stack, edge, "read", rid, "--after", "2", "--json")
    assert read.returncode == 0 and [json.loads(x) for x in read.stdout.splitlines()] == lines[2:]
    tailed = await asyncio.to_thread(cli, stack, edge, "tail", rid)
    assert tailed.returncode == 0 and [json.loads(x) for x in tailed.stdout.splitlines()] == lines


async def test_create_reads_a_view_and_finds_the_edge_by_tokenrelay_url(
    shared: tuple[Stack, Edge],
) -> None:
    stack, edge = shared
    env = {**settings_env(stack.settings_with(edge_port=1)), "TOKENRELAY_URL": edge.url}
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "create", "--view", "sentences", *fast(40), "Hi"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    snap = json.loads(
        (await asyncio.to_thread(cli, stack, edge, "get", rid_of(made.stderr))).stdout
    )
    assert made.stdout == snap["sources"]["answer"] + "\n"  # the sentences add up to the text


async def test_cancel_and_errors(shared: tuple[Stack, Edge]) -> None:
    stack, edge = shared
    proc = await asyncio.to_thread(start, stack, edge, "create", "--json", *fast(5000, 50), "x")
    try:
        rid = (await asyncio.to_thread(first_event, proc))["rid"]
        cancelled = await asyncio.to_thread(cli, stack, edge, "cancel", rid)
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["cancelled"] is True
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and f"{rid} ended with cancelled" in err, err
    assert json.loads(out.splitlines()[-1])["type"] == "cancelled"
    missing = await asyncio.to_thread(cli, stack, edge, "get", "no-such-response")
    assert missing.returncode == 1 and "404 unknown_response" in missing.stderr
    bad = await asyncio.to_thread(cli, stack, edge, "create", "--model", "nope", "x")
    assert bad.returncode == 1 and "400" in bad.stderr and "Traceback" not in bad.stderr


async def test_ctrl_c_detaches_or_cancels(shared: tuple[Stack, Edge]) -> None:
    stack, edge = shared
    proc = await asyncio.to_thread(start, stack, edge, "create", "--json", *fast(400, 40), "x")
    first = await asyncio.to_thread(first_event, proc)
    rid = first["rid"]
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 130, err
    seq = ([first] + [json.loads(line) for line in out.splitlines()])[-1]["seq"]
    assert f"tokenrelay read {rid} --after {seq}" in err, err
    # The response went on: reading after what was printed gives the rest, to `done`.
    rest = await asyncio.to_thread(cli, stack, edge, "read", rid, "--after", str(seq), "--json")
    assert rest.returncode == 0, rest.stderr
    assert json.loads(rest.stdout.splitlines()[0])["seq"] == seq + 1

    proc = await asyncio.to_thread(
        start, stack, edge, "create", "--cancel-on-exit", "--json", *fast(5000, 50), "x"
    )
    rid = (await asyncio.to_thread(first_event, proc))["rid"]
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 130 and f"cancel of {rid}: cancelling" in err, err
    read = await asyncio.to_thread(cli, stack, edge, "read", rid, "--json")
    assert read.returncode == 1 and json.loads(read.stdout.splitlines()[-1])["type"] == "cancelled"


async def test_publish_to_a_finished_id_fails_clearly(shared: tuple[Stack, Edge]) -> None:
    stack, edge = shared
    rid = f"cli-{secrets.token_hex(6)}"
    first = await asyncio.to_thread(cli, stack, edge, "publish", "--id", rid, stdin="one\n")
    assert first.returncode == 0, first.stderr[-3000:]
    again = await asyncio.to_thread(cli, stack, edge, "publish", "--id", rid, stdin="two\n")
    assert again.returncode == 1
    assert f"response {rid!r} already ended (done)" in again.stderr, again.stderr[-3000:]
    # Nothing was written: the response reads as the first publish left it.
    async with client_for(edge.url) as client:
        assert delta_text((await read_all(client, rid, wait_known_s=10)).events) == "one\n"
    # An id the edge made (it carries its creation time: the check seeks there).
    made = await asyncio.to_thread(cli, stack, edge, "create", *fast(5), "x")
    made_rid = rid_of(made.stderr)
    over = await asyncio.to_thread(cli, stack, edge, "publish", "--id", made_rid, stdin="x\n")
    assert over.returncode == 1 and "already ended (done)" in over.stderr, over.stderr[-3000:]


def start(stack: Stack, edge: Edge, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=settings_env(stack.settings_with(edge_port=edge.port)),
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def first_event(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The first event a `create --json` prints."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    event: dict[str, Any] = json.loads(line)
    return event
