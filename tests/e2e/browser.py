"""A headless Debian Chromium for tests, driven through tests/e2e/driver.mjs (playwright-core).

`Browser` speaks the driver's JSON-lines protocol; every call has a time limit, and a missing
node, playwright-core or chromium is a clear failure, never a skip.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.mjs")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0


class BrowserError(AssertionError):
    """The driver or the page failed; the message carries the page's recent console."""


def missing_tools() -> str | None:
    """Why the browser cannot start, or None. `make install` provides all three."""
    if shutil.which("node") is None:
        return "node is not installed (infra/system-packages.sh installs nodejs and npm)"
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        return "node_modules/playwright-core is missing: run `make install` (npm ci)"
    if not Path(CHROMIUM).exists():
        return (
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(`make install` runs infra/system-packages.sh, which does)"
        )
    if not (REPO / "app" / "static" / "vendor" / "markdown-it.js").exists():
        return "app/static/vendor/ is empty: run `make install` (copies the npm browser builds)"
    return None


class Browser:
    tab: str | None = None  # which page the commands drive (driver.mjs); None: the main one

    def __init__(self, log: Path) -> None:
        self.log = log
        self._err = log.open("wb")
        self.proc = subprocess.Popen(
            ["node", str(DRIVER)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        ready = self._read(START_TIMEOUT_S, "start")
        self.version = str(ready["version"])

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read(self, timeout_s: float, what: str) -> Any:
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise BrowserError(f"browser driver: no answer to {what} in {timeout_s}s") from None
        if line is None:
            raise BrowserError(f"browser driver exited ({self.proc.poll()}):\n{self.stderr()}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise BrowserError(f"{what}: {answer['error']}\n{self._recent_logs()}")
        return answer["value"]

    def call(self, cmd: str, timeout_s: float = CALL_TIMEOUT_S, **args: Any) -> Any:
        assert self.proc.stdin is not None
        if self.tab is not None:
            args.setdefault("tab", self.tab)
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read(timeout_s, f"{cmd} {json.dumps(args)[:300]}")

    def _recent_logs(self) -> str:
        if self.proc.poll() is not None:
            return self.stderr()
        try:
            self.proc.stdin.write(json.dumps({"cmd": "logs"}) + "\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            answer = json.loads(self._lines.get(timeout=10) or "{}")
            return "page console:\n" + "\n".join(answer.get("value") or [])
        except Exception as exc:  # diagnostics only
            return f"(page console unavailable: {exc!r})"

    def stderr(self) -> str:
        self._err.flush()
        return self.log.read_text(errors="replace")[-5000:]

    def other_tab(self, name: str) -> Browser:
        """The same driver, its commands going to page `name` (a context of its own, as a
        second device; a fresh `page` of the main tab closes it)."""
        other = copy.copy(self)
        other.tab = name
        other.call("page")
        return other

    # The page-level verbs the tests use.
    def new_page(self) -> None:
        self.call("page")

    def reload(self) -> None:
        self.call("reload")

    def goto(self, url: str) -> None:
        self.call("goto", url=url)

    def eval(self, expr: str) -> Any:
        return self.call("eval", expr=expr)

    def wait(self, expr: str, timeout_s: float = 30.0, poll_ms: int = 50) -> Any:
        """Wait until the JS expression is truthy; returns its value."""
        return self.call(
            "wait",
            timeout_s=timeout_s + 10,
            expr=expr,
            timeout_ms=timeout_s * 1000,
            poll_ms=poll_ms,
        )

    def click(self, selector: str) -> None:
        self.call("click", selector=selector)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.call("screenshot", path=str(path))

    def logs(self) -> list[str]:
        return list(self.call("logs"))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close", timeout_s=20)
            except BrowserError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._pump_thread.join(timeout=10)  # it reads stdout until EOF: let it finish first
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._err.close()
