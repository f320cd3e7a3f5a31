"""Fixtures for the browser tests: the integration tier's real stack (re-exported so pytest
sees them here), one headless Chromium per session, and a fresh page per test.

A missing node, playwright-core, chromium or vendored library fails the test with what to
install; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Re-exported fixtures of tests/integration (module_stack, shared, settings, stack).
from integration.conftest import module_stack, settings, shared, stack  # noqa: F401

from .browser import Browser, missing_tools

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    why = missing_tools()
    if why is not None:
        pytest.fail(f"cannot run the browser tests: {why}", pytrace=False)
    b = Browser(tmp_path_factory.mktemp("browser") / "driver.log")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The session's browser with a fresh context and page; its console is printed on failure."""
    browser.new_page()
    yield browser
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("\n".join(["page console:", *browser.logs()]))
