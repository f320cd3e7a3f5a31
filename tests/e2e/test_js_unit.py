"""Runs the browser client's fast unit tests (`node --test tests/js/`: SSE parsing, resume
logic, progressive markdown) inside `make test`, which runs pytest. No browser, no Kafka.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .browser import REPO

TESTS = sorted((REPO / "tests" / "js").glob("*.test.mjs"))


def test_node_unit_tests_pass() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed (infra/system-packages.sh installs it)", pytrace=False)
    if not (REPO / "node_modules" / "markdown-it").is_dir():
        pytest.fail("node_modules is missing: run `make install` (npm ci)", pytrace=False)
    assert len(TESTS) >= 3, TESTS
    run = subprocess.run(
        ["node", "--test", *map(str, TESTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    summary = [line for line in run.stdout.splitlines() if line.startswith(("# pass", "# fail"))]
    assert run.returncode == 0, f"{run.stdout[-8000:]}\n{run.stderr[-2000:]}"
    assert summary and summary[-1] == "# fail 0", summary
