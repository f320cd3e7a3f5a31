"""API keys for tests with auth on: made by the real `tokenrelay keys create`, as an operator
would, against the stack's database."""

from __future__ import annotations

import subprocess
import sys

from app.auth import keys

from .procs import REPO, Stack, settings_env


def create_key(stack: Stack, name: str) -> str:
    """`tokenrelay keys create --name NAME`: the key is alone on the last line."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--name", name], cwd=REPO,
        env=settings_env(stack.settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    key = done.stdout.splitlines()[-1]
    assert keys.plausible(key), done.stdout
    return key


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}
