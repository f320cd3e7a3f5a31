"""API keys through the real CLI and a real edge, on SQLite and PostgreSQL: `tokenrelay keys
create|list|revoke`; writes refused without a key (401 and its challenge), accepted with one;
a revoked key refused on the edge once its cache has let it go. And `tokenrelay up` (`make run`):
the development key is created on the first start, printed in the demo URL and kept for the
next; `TOKENRELAY_AUTH=off` says so loudly.
"""

from __future__ import annotations

import asyncio
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.auth import devkey, keys

from .conftest import on_database
from .procs import REPO, Stack, free_port, settings_env
from .sse import client_for

pytestmark = pytest.mark.integration

BODY = {"model": "demo", "input": "hello", "params": {"tokens": 3, "rate": 100}}
CACHE_S = 1.0


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", *args], cwd=REPO, capture_output=True,
        text=True, env=settings_env(stack.settings), timeout=60,
    )  # fmt: skip


@pytest.fixture
async def db_stack(stack: Stack, database_url: str) -> AsyncIterator[Stack]:
    async with on_database(stack, database_url, auth="on", auth_cache_s=CACHE_S):
        yield stack


async def test_keys_from_the_cli_guard_writes_and_revoke(db_stack: Stack) -> None:
    stack = db_stack
    edge = await stack.edge()  # no worker: a POST is answered once Kafka has its records
    made = cli(stack, "create", "--name", "ci-bot")
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[-1]
    assert keys.plausible(key) and key not in made.stdout.splitlines()[0]
    listed = cli(stack, "list")
    assert listed.returncode == 0 and "ci-bot" in listed.stdout
    assert key not in listed.stdout and keys.digest(key) not in listed.stdout
    (key_id,) = re.findall(r"key_[0-9a-f]{12}", listed.stdout)
    assert cli(stack, "create", "--name", "ci-bot").returncode == 1  # the name is taken

    async with client_for(edge.url) as c:
        resp = await c.post("/v1/responses", json=BODY)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await c.post("/v1/responses", json=BODY, headers=auth(keys.new_key()))
        assert wrong.status_code == 401 and "invalid_token" in wrong.headers["WWW-Authenticate"]
        for path in ("/v1/stats", "/metrics"):  # admin reads take a key too
            assert (await c.get(path)).status_code == 401
            assert (await c.get(path, headers=auth(key))).status_code == 200
        for path in ("/healthz", "/v1/models", "/"):  # open
            assert (await c.get(path)).status_code == 200
        made_ok = await c.post("/v1/responses", json=BODY, headers=auth(key))
        assert made_ok.status_code == 201, made_ok.text
        assert "read_token" in made_ok.json()

        revoked = cli(stack, "revoke", key_id)
        assert revoked.returncode == 0 and "ci-bot" in revoked.stdout
        assert "ci-bot" in cli(stack, "list").stdout  # still listed, with its revoke time
        at = time.monotonic()
        while (
            resp := await c.post("/v1/responses", json=BODY, headers=auth(key))
        ).status_code == 201:
            assert time.monotonic() - at < CACHE_S + 3, "the revoke never reached the edge"
            await asyncio.sleep(0.1)
        assert resp.status_code == 401 and "revoked" in resp.json()["error"]["message"]
    assert cli(stack, "revoke", "nobody").returncode == 1


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Up:
    """`tokenrelay up` as `make run` runs it (the test's broker through TOKENRELAY_KAFKA)."""

    def __init__(self, stack: Stack, port: int, **overrides: object) -> None:
        self.log = stack.workdir / f"up-{time.monotonic_ns()}.log"
        env = settings_env(stack.settings_with(edge_port=port, **overrides))
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "up"], cwd=REPO, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def line(self, pattern: str, timeout_s: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = re.search(pattern, self.log.read_text(errors="replace"))
            if found:
                return found
            assert self.popen.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


async def test_up_creates_prints_and_keeps_the_development_key(stack: Stack) -> None:
    stack.settings = stack.settings_with(auth="on")
    port = free_port()
    first = Up(stack, port)
    try:
        url = await first.line(r"demo page at (http://\S+/#key=(trk_\S+)) ")
        key = url[2]
        assert "created the development API key" in first.log.read_text()
        kept = Path(stack.settings.data_dir) / devkey.FILE
        assert kept.read_text().strip() == key and stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert first.log.read_text().count(key) == 1  # printed once
        async with client_for(f"http://127.0.0.1:{port}") as c:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, first.log.read_text()
                await asyncio.sleep(0.2)
            assert (await c.post("/v1/responses", json=BODY)).status_code == 401
            resp = await c.post("/v1/responses", json=BODY, headers=auth(key))
            assert resp.status_code == 201, resp.text
    finally:
        first.stop()
    second = Up(stack, port)  # a later start prints the same key
    try:
        again = await second.line(r"demo page at (http://\S+/#key=(trk_\S+)) ")
        assert again[2] == key and "created" not in second.log.read_text()
    finally:
        second.stop()


async def test_auth_off_is_said_loudly(stack: Stack) -> None:
    edge = await stack.edge(auth="off")
    assert "WARNING: TOKENRELAY_AUTH=off" in edge.text()
    async with client_for(edge.url) as c:
        resp = await c.post("/v1/responses", json=BODY)
        assert resp.status_code == 201 and "read_token" not in resp.json()
