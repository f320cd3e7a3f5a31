"""Fixtures for tests against real Kafka and real worker/edge processes.

Every test gets its own random topic prefix (so its topics, consumer groups and worker state
are its own) and a `stack` that starts processes with those settings. Process logs are
printed when a test fails.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.fakes.upstream import FakeUpstream

from .procs import Edge, Stack
from .sse import client_for


def make_settings(bootstrap: str, workdir: Path) -> Settings:
    return Settings(
        kafka=bootstrap,
        topic_prefix=f"it{secrets.token_hex(5)}",
        partitions=4,
        worker_datadir=str(workdir / "worker-data"),
        # Each test's own SQLite file (migrated by its worker and edge at start).
        database_url=f"sqlite:///{workdir / 'tokenrelay.db'}",
        # A SIGKILLed worker's partitions move to its replacement after this long.
        worker_session_timeout_s=3.0,
        edge_unknown_wait_ms=500,
        heartbeat_s=2.0,
    )


@pytest.fixture
def settings(broker: Any, tmp_path: Path) -> Settings:
    return make_settings(broker.bootstrap, tmp_path)


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    s = Stack(settings, tmp_path)
    try:
        yield s
    finally:
        s.close()
        if _failed(request) and s.procs:
            print(f"\ntopic prefix {settings.topic_prefix}\n{s.report()}")


@pytest.fixture(scope="module")
def module_stack(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker and one edge shared by the tests of a module that only create and read
    responses (each under its own id), to spare a worker start per test."""
    workdir = tmp_path_factory.mktemp("stack")
    s = Stack(make_settings(broker.bootstrap, workdir), workdir)
    try:
        s.up_blocking()
        yield s
    finally:
        s.close()


@pytest.fixture
def shared(module_stack: Stack, request: pytest.FixtureRequest) -> Iterator[tuple[Stack, Edge]]:
    """(stack, edge) of the module's shared processes; their logs are printed if this test fails."""
    edge = next(p for p in module_stack.procs if isinstance(p, Edge))
    try:
        yield module_stack, edge
    finally:
        if _failed(request):
            print(f"\ntopic prefix {module_stack.settings.topic_prefix}\n{module_stack.report()}")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    """A local model server speaking the OpenAI and Anthropic streaming formats."""
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
async def client(
    gen_stack: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the edge of the module's `gen_stack` (a module that wants it defines one)."""
    edge = next(p for p in gen_stack.procs if isinstance(p, Edge))
    async with client_for(edge.url) as c:
        yield c
    if _failed(request):
        print(f"\ntopic prefix {gen_stack.settings.topic_prefix}\n{gen_stack.report()}")


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
