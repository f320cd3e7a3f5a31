"""The session's PostgreSQL server, started like the Kafka broker: Debian's PostgreSQL
(installed by infra/system-packages.sh), a new cluster in a temporary directory on a free port,
trust authentication for one user. A missing or failing PostgreSQL fails the tests that ask for
it: CI must never pass by skipping a database.

Root may not run postgres: as root, the cluster belongs to the `postgres` user the Debian
package creates (or `nobody`), and its commands run through runuser.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "tokenrelay"
START_TIMEOUT_S = 60


def bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them off PATH)."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass(frozen=True)
class Postgres:
    port: int
    dir: Path
    bin: Path
    owner: str | None  # who runs the server (root may not), None: this user

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{secrets.token_hex(6)}"
        self.run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                 "-d", "postgres", "-qc", f"CREATE DATABASE {name}")  # fmt: skip
        return self.url(name)

    def run(self, *cmd: str, timeout: float = START_TIMEOUT_S) -> str:
        full = ["runuser", "-u", self.owner, "--", *cmd] if self.owner else list(cmd)
        done = subprocess.run(
            full, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            cwd=self.dir,
        )  # fmt: skip
        if done.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}\n{tail}")
        return done.stdout


def _owner() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_ = bindir()
    if bin_ is None:
        pytest.fail("PostgreSQL is not installed: run `bash infra/system-packages.sh`")
    owner = _owner()
    # Not under pytest's tmp dir: that is private to root, and the server runs as `owner`.
    root = Path(tempfile.mkdtemp(prefix="tokenrelay-pg-"))
    if owner:
        info = pwd.getpwnam(owner)
        os.chown(root, info.pw_uid, info.pw_gid)
    pg = Postgres(_free_port(), root, bin_, owner)
    data = root / "data"
    try:
        pg.run(str(bin_ / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
               "--no-sync", "--no-instructions")  # fmt: skip
        options = (
            f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        pg.run(str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
               "-t", str(START_TIMEOUT_S), "-o", options, "start")  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc}")
    try:
        yield pg
    finally:
        try:
            pg.run(str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database on each backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tokenrelay.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.create_database()
