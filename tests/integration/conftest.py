"""Fixtures for tests against real Kafka and real worker/edge processes.

Every test gets its own random topic prefix (so its topics, consumer groups and worker state
are its own) and a `stack` that starts processes with those settings. Process logs are
printed when a test fails.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from app.storage import migrate
from app.storage.store import Store
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
        # A stopped worker's running responses get this long to finish (docs/operations.md):
        # short, so that a teardown with responses still streaming stays quick.
        worker_drain_s=2.0,
        edge_unknown_wait_ms=500,
        heartbeat_s=2.0,
        worker_metrics_port=0,  # several workers run at once: a test that scrapes one sets a port
        # The tests that predate API keys create and read without credentials; the security
        # tests (test_auth*.py) turn it on. The data dir is the test's own, never the checkout's.
        auth="off",
        data_dir=str(workdir / "data"),
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


@contextmanager
def started(broker: Any, factory: pytest.TempPathFactory, **overrides: Any) -> Iterator[Stack]:
    """A worker and an edge on new test settings with `overrides`, for a module-scoped fixture:
    one process start serves the module's tests."""
    workdir = factory.mktemp("stack")
    s = Stack(dataclasses.replace(make_settings(broker.bootstrap, workdir), **overrides), workdir)
    try:
        s.up_blocking()
        yield s
    finally:
        s.close()


@asynccontextmanager
async def on_database(
    stack: Stack, database_url: str, *, migrate_sqlite: bool = False, **overrides: Any
) -> AsyncIterator[Store]:
    """Point `stack` (not started yet) at `database_url` (with `overrides`); a store on it.

    PostgreSQL is migrated first, as in production (`tokenrelay db upgrade`); SQLite is left to
    the worker and edge to migrate at start (as in development) unless `migrate_sqlite`."""
    stack.settings = dataclasses.replace(stack.settings, database_url=database_url, **overrides)
    if migrate_sqlite or database_url.startswith("postgresql"):
        await migrate.upgrade(database_url)
    store = Store.connect(database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="module")
def module_stack(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker and one edge shared by the tests of a module that only create and read
    responses (each under its own id), to spare a worker start per test."""
    with started(broker, tmp_path_factory) as s:
        yield s


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


@pytest.fixture(scope="module")
def gen_settings(fake: FakeUpstream) -> dict[str, Any]:
    """The settings of the module's `gen_stack` beyond the test's own: the fake upstreams and
    their keys. A module that wants others overrides this fixture."""
    return {
        "openai_base_url": f"{fake.url}/v1",
        "openai_api_key": "sk-test",
        "anthropic_base_url": fake.url,
        "anthropic_api_key": "key-a",
    }


@pytest.fixture(scope="module")
def gen_stack(
    broker: Any, tmp_path_factory: pytest.TempPathFactory, gen_settings: dict[str, Any]
) -> Iterator[Stack]:
    """One worker and one edge calling the fake upstreams, shared by the module's tests."""
    with started(broker, tmp_path_factory, **gen_settings) as s:
        yield s


@pytest.fixture
async def client(
    gen_stack: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the edge of the module's `gen_stack`."""
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
