"""A real nginx (Debian's) for a test: infra/nginx/tokenrelay.conf included in a minimal main
configuration in a temp dir, its listen port and edges rewritten, optionally with settings
changed (the negative controls). It must be installed (`make test` installs it): a missing
nginx fails the test, never skips it."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from app import cluster_nginx

from .procs import free_port

START_TIMEOUT_S = 20.0

# What an operator's http {} often has already: gzip for everything, and the header that
# tells a test which edge answered.
OPERATOR_HTTP = """    gzip on;
    gzip_min_length 1;
    gzip_types text/event-stream application/json;
    add_header X-Upstream $upstream_addr always;
"""


class Nginx:
    def __init__(
        self,
        workdir: Path,
        edge_ports: list[int],
        changes: dict[str, str] | None = None,
        conf: str | None = None,
    ) -> None:
        """The shipped site (app/cluster_nginx.py) proxying to `edge_ports`, with `changes`
        (the negative controls); or `conf` instead, a test's own proxy (e.g. a CDN stand-in),
        with @PORT@ (the port it must listen on) and @DIR@ (its temp dir) filled in."""
        self.dir = workdir / f"nginx-{free_port()}"
        self.dir.mkdir()
        self.port = free_port()
        if conf is not None:
            site = conf.replace("@PORT@", str(self.port)).replace("@DIR@", str(self.dir))
        else:
            site = cluster_nginx.site(self.port, edge_ports, changes)
        cluster_nginx.write_config(self.dir, site, http=OPERATOR_HTTP, log_level="info")
        self.log = self.dir / "stderr.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cluster_nginx.command(self.dir),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nginx did not start:\n{self.report()}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def report(self) -> str:
        logs = [self.log, self.dir / "error.log"]
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in logs if p.exists())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def established(port: int) -> int:
    """TCP connections established to 127.0.0.1:`port` (from any local client)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return len([line for line in out.stdout.splitlines() if line.strip()])
