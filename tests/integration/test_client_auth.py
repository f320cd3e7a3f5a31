"""The Python client and the CLI against an edge with auth on (real Kafka, worker, edge): the
client creates with its API key and reads with the response's read token (a token alone reads
that response and no other); the CLI finds its key in TOKENRELAY_API_KEY, or else the
development key `tokenrelay up` keeps in the data dir; without either it fails clearly."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from app.auth import devkey, secretfile
from app.client import AsyncClient, Forbidden, Unauthorized

from .apikeys import create_key
from .conftest import started
from .procs import REPO, Edge, Stack, settings_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def auth_stack(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with started(broker, tmp_path_factory, auth="on") as s:
        yield s


def edge_of(stack: Stack) -> Edge:
    return next(p for p in stack.procs if isinstance(p, Edge))


async def test_client_with_a_key_reads_with_the_read_token(auth_stack: Stack) -> None:
    url = edge_of(auth_stack).url
    key = create_key(auth_stack, "client-test")
    async with AsyncClient(url, api_key=key) as owner:
        made = await owner.create(model="demo", input="hello", params={"tokens": 12, "rate": 400})
        other = await owner.create(model="demo", input="other", params={"tokens": 5, "rate": 400})
    assert made.read_token and other.read_token
    async with AsyncClient(url, api_key="", token=made.read_token) as reader:
        got = [e async for e in reader.events(made.id)]
        assert got[-1].type == "done" and [e.seq for e in got] == list(range(1, len(got) + 1))
        assert (await reader.get(made.id)).text == "".join(e.text or "" for e in got)
        with pytest.raises(Forbidden):
            [e async for e in reader.events(other.id)]
    async with AsyncClient(url, api_key="") as nobody:
        with pytest.raises(Unauthorized):
            await nobody.create(model="demo", input="no key")


def cli(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, text=True,
        env={**settings_env(stack.settings_with(edge_port=edge_of(stack).port)), **env},
        timeout=120,
    )  # fmt: skip


def test_cli_finds_its_key(auth_stack: Stack) -> None:
    prompt = ["--param", "tokens=8", "--param", "rate=400", "hi"]
    refused = cli(auth_stack, "create", *prompt)
    assert refused.returncode == 1 and "401" in refused.stderr + refused.stdout, refused
    key = create_key(auth_stack, "cli-test")
    by_env = cli(auth_stack, "create", *prompt, TOKENRELAY_API_KEY=key)
    assert by_env.returncode == 0 and by_env.stdout.strip(), by_env
    secretfile.write(devkey.path(auth_stack.settings.data_dir), create_key(auth_stack, "dev"))
    by_file = cli(auth_stack, "create", *prompt)
    assert by_file.returncode == 0 and by_file.stdout.strip(), by_file
