"""`tokenrelay publish --id RID` (stdin in) and `tokenrelay tail RID` (events out), as
subprocesses against a real worker and edge."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys

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
