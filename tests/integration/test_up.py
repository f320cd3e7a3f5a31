"""`tokenrelay up` (`make run`) as a newcomer sees it, against the test's broker (through
TOKENRELAY_KAFKA, so it starts none): a quiet start (one line per component, then the URL once
the edge answers; the processes' chatter goes to their log files), and a failing component (the
edge's port taken) ends `up` with status 1, the reason, and no process left behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import psutil

from .procs import REPO, Stack, free_port, settings_env

START_TIMEOUT_S = 180


def up(stack: Stack, port: int) -> subprocess.Popen[str]:
    env = settings_env(stack.settings_with(edge_port=port))
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up"], cwd=REPO, env=env, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def left_behind(stack: Stack) -> list[str]:
    """Worker or edge processes still running on this test's topic prefix."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            mine = p.environ().get("TOKENRELAY_TOPIC_PREFIX") == stack.settings.topic_prefix
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        cmd = " ".join(p.info["cmdline"] or [])
        if mine and "app.cli" in cmd and (" worker" in cmd or " edge" in cmd):
            out.append(cmd)
    return out


def test_a_quiet_start_then_the_url(stack: Stack) -> None:
    port = free_port()
    proc = up(stack, port)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any("demo page at" in line for line in lines):
            line = proc.stdout.readline()
            assert line, f"up ended early: {lines}"
            lines.append(line.rstrip("\n"))
            assert time.monotonic() < deadline, lines
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200  # answers now
        said = [line for line in lines if line.startswith("tokenrelay: ")]
        assert said == lines, f"only tokenrelay's own lines on the terminal: {lines}"
        # (before them: the auth-off warning or the development key's line)
        assert [s.split(": ", 1)[1].split(" ")[0] for s in said[-3:]] == ["worker", "edge", "demo"]
        assert len(said) <= 5 and said[0].startswith("tokenrelay: database ready"), said
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=60)  # reads to the end and closes the pipe
        assert proc.returncode == 0, rest
    assert not left_behind(stack)


def test_a_component_that_fails_ends_up_with_status_1(stack: Stack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = up(stack, taken.getsockname()[1])
        out, _ = proc.communicate(timeout=START_TIMEOUT_S)
    assert proc.returncode == 1, out
    assert "the edge exited with status" in out and "edge.log" in out, out
    assert not left_behind(stack)
