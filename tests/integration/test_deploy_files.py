"""The deployment files are valid and say only what exists: infra/compose.yaml through
compose-go (the loader and schema `docker compose config` runs), the systemd units through
`systemd-analyze verify`, each beside a broken copy that the same check rejects; every command
they run is a real `tokenrelay` subcommand and every TOKENRELAY_ variable a real setting."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from app.cli import _parser
from app.settings import PREFIX, Settings

from .procs import REPO

pytestmark = pytest.mark.integration

INFRA = REPO / "infra"
UNITS = INFRA / "systemd"
COMPOSE_GO = "v2.16.2"  # infra/system-packages.sh builds it
SETTINGS = {f.name for f in dataclasses.fields(Settings)}
VARIABLE = re.compile(r"\b" + PREFIX + r"([A-Z0-9_]+)")


def compose_go() -> str:
    tools = os.environ.get("TOKENRELAY_TOOLS") or str(Path.home() / ".cache/tokenrelay/tools")
    path = Path(tools) / f"compose-go-{COMPOSE_GO}" / "cmd"
    if not path.exists():
        raise AssertionError(f"no {path}: `make test` builds it (infra/system-packages.sh)")
    return str(path)


def load_compose(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    return subprocess.run(
        [compose_go(), "--format", "json", "compose.yaml"],
        cwd=directory, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def assert_settings(names: set[str], where: str) -> None:
    unknown = {n for n in names if n.lower() not in SETTINGS}
    assert not unknown, f"{where}: no such setting {sorted(PREFIX + n for n in unknown)}"


def assert_command(argv: list[str], where: str) -> None:
    """`argv` (after `tokenrelay`) parses as a real subcommand with real flags."""
    try:
        _parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"{where}: `tokenrelay {shlex.join(argv)}` does not parse") from None


def test_compose_file_is_valid_and_runs_real_commands(tmp_path: Path) -> None:
    done = load_compose(INFRA)
    assert done.returncode == 0, done.stderr
    project = orjson.loads(done.stdout)
    services = project["services"]
    assert set(services) == {"kafka", "worker", "edge-1", "edge-2", "nginx"}
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        for mount in service.get("volumes", []):
            if mount["type"] == "bind":
                assert Path(mount["source"]).exists(), f"{name}: no {mount['source']}"
        if name.startswith(("worker", "edge")):
            assert_command(service["command"], f"compose {name}")
            assert_settings({m for k in service["environment"] for m in VARIABLE.findall(k)}, name)
            assert service["build"]["dockerfile"] == "infra/Dockerfile"
            grace = int(service["stop_grace_period"].removesuffix("s"))
            assert grace >= Settings().worker_drain_s + 15, f"{name}: stop_grace_period {grace}"
    assert (INFRA / "Dockerfile").exists()
    # Control: the same file with a key the specification does not have is rejected.
    broken = tmp_path / "broken"
    shutil.copytree(INFRA, broken, ignore=shutil.ignore_patterns("kafka"))
    text = (broken / "compose.yaml").read_text()
    (broken / "compose.yaml").write_text(text.replace("restart: on-failure", "restart_policy: 1"))
    assert load_compose(broken).returncode != 0


def test_compose_nginx_rewrites_the_shipped_conf(tmp_path: Path) -> None:
    """compose.yaml's nginx runs a `sed` over infra/nginx/tokenrelay.conf: the listen address
    and the upstream must still match the file, or the proxy keeps 127.0.0.1."""
    project = orjson.loads(load_compose(INFRA).stdout)
    script = project["services"]["nginx"]["command"][-1]
    out = tmp_path / "default.conf"
    script = script.replace("/etc/tokenrelay/tokenrelay.conf", str(INFRA / "nginx/tokenrelay.conf"))
    script = script.replace("/etc/nginx/conf.d/default.conf", str(out))
    script = script.split(" && exec ")[0]
    subprocess.run(["sh", "-c", script], check=True, timeout=30)
    conf = "\n".join(x for x in out.read_text().splitlines() if not x.lstrip().startswith("#"))
    assert "listen 8080;" in conf and "127.0.0.1" not in conf
    for edge in ("edge-1", "edge-2"):
        assert re.search(rf"^\s*server {edge}:8000 max_fails=1 fail_timeout=5s;$", conf, re.M)


def unit_lines(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def test_units_run_real_commands_with_real_settings() -> None:
    units = sorted(UNITS.glob("*.service"))
    assert {u.name for u in units} == {"tokenrelay-worker@.service", "tokenrelay-edge@.service"}
    for unit in units:
        lines = unit_lines(unit)
        keys = dict(lines)
        argv = shlex.split(keys["ExecStart"].replace("%i", "8000"))
        assert argv[0].endswith("/bin/tokenrelay"), argv
        assert_command(argv[1:], unit.name)
        env = {m for k, v in lines if k == "Environment" for m in VARIABLE.findall(v)}
        assert_settings(env, unit.name)
        assert keys["EnvironmentFile"] == "/etc/tokenrelay/tokenrelay.env"
        assert keys["Restart"] == "on-failure" and keys["KillSignal"] == "SIGTERM"
        assert keys["NoNewPrivileges"] == "yes" and keys["ProtectSystem"] == "strict"
        # Above the worker's drain (docs/operations.md), with room to exit after it.
        assert int(keys["TimeoutStopSec"].removesuffix("s")) >= Settings().worker_drain_s + 15
    env_file = (UNITS / "tokenrelay.env").read_text()
    assert_settings(set(VARIABLE.findall(env_file)), "tokenrelay.env")


def verify(directory: Path) -> tuple[int, str]:
    instances = [
        str(directory / "tokenrelay-worker@8001.service"),
        str(directory / "tokenrelay-edge@8000.service"),
        str(directory / "tokenrelay.target"),
    ]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *instances],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Unknown keys and bad values are only warnings (exit 0): any line about our files fails.
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "tokenrelay" in line]
    return done.returncode, "\n".join(ours)


def units_copy(into: Path) -> Path:
    """The units with ExecStart on this checkout's own `tokenrelay` (verify checks it exists)."""
    into.mkdir()
    tokenrelay = Path(sys.executable).parent / "tokenrelay"
    assert tokenrelay.exists(), tokenrelay
    for unit in [*UNITS.glob("*.service"), *UNITS.glob("*.target")]:
        text = unit.read_text().replace("/opt/tokenrelay/.venv/bin/tokenrelay", str(tokenrelay))
        (into / unit.name).write_text(text)
    return into


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        raise AssertionError("no systemd-analyze: `make test` installs it (system-packages.sh)")
    rc, ours = verify(units_copy(tmp_path / "units"))
    assert rc == 0 and not ours, ours
    # Control: a misspelt key and a bad value in a copy are reported.
    broken = units_copy(tmp_path / "broken")
    edge = broken / "tokenrelay-edge@.service"
    edge.write_text(
        edge.read_text()
        .replace("KillSignal=SIGTERM", "KillSignl=SIGTERM")
        .replace("Restart=on-failure", "Restart=sometimes")
    )
    rc, ours = verify(broken)
    assert "KillSignl" in ours and "sometimes" in ours, ours
