"""An installed tokenrelay, not a checkout: the wheel carries infra/ (app/infra.py), so
`tokenrelay broker status` works from anywhere and keeps the broker's data under the data dir,
not in site-packages. The wheel is built from a copy of the sources and installed with
--no-deps into a fresh venv that sees this venv's packages (the dependencies) but not the
checkout; everything runs from a directory outside it.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "app", "agents", "infra")
SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", "vendor", "node_modules")
TIMEOUT_S = 180


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)  # fmt: skip
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the wheel (its dependencies come from this venv's site-packages)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:  # a copy: setuptools writes build/ into the tree it builds
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, symlinks=True, ignore=SKIP)
        else:
            shutil.copy2(REPO / name, src / name)
    out = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "-q", "-w", str(tmp / "dist"), str(src)], tmp)  # fmt: skip
    wheels = list((tmp / "dist").glob("tokenrelay-*.whl"))
    assert len(wheels) == 1, out
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=TIMEOUT_S)  # fmt: skip
    python = venv / "bin" / "python"
    out = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
               "-q", str(wheels[0])], tmp)  # fmt: skip
    assert out.startswith("exit 0"), out
    # This venv's packages, as a plain path: its .pth files (the editable install's pointer to
    # the checkout among them) are not processed, so `app` can only be the wheel's.
    (site_dir(python) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def site_dir(python: Path) -> Path:
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    out = subprocess.run([str(python), "-c", where], capture_output=True, text=True, check=True,
                         timeout=TIMEOUT_S)  # fmt: skip
    return Path(out.stdout.strip())


@pytest.fixture
def outside(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TOKENRELAY_DATA_DIR": "data",
           "TOKENRELAY_BROKER_PORT": "1"}  # fmt: skip
    return tmp_path, env


def test_help_and_broker_status_from_outside_the_checkout(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    cwd, env = outside
    tokenrelay = str(installed / "bin" / "tokenrelay")
    where = run([str(installed / "bin" / "python"), "-c", "import app; print(app.__file__)"],
                cwd, env)  # fmt: skip
    assert str(installed) in where and str(REPO) not in where, where
    out = run([tokenrelay, "--help"], cwd, env)
    assert out.startswith("exit 0") and "broker" in out and "up" in out, out
    out = run([tokenrelay, "broker", "status"], cwd, env)
    # Not running (exit 3), and its data dir is the data dir's, not one in site-packages.
    assert out.startswith("exit 3"), out
    assert f"stopped (port 1, dir {cwd / 'data' / 'broker'})" in out, out


def test_without_infra_in_the_package_the_broker_command_fails_clearly(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    cwd, env = outside
    packaged = site_dir(installed / "bin" / "python") / "app" / "_infra"
    for name in ("kafka/broker.sh", "kafka/pom.xml", "nginx/tokenrelay.conf"):
        assert (packaged / name).is_file(), name
    hidden = packaged.with_name("_infra.hidden")
    packaged.rename(hidden)
    try:
        out = run([str(installed / "bin" / "tokenrelay"), "broker", "status"], cwd, env)
    finally:
        hidden.rename(packaged)
    assert out.startswith("exit 1") and "infra/ is neither beside" in out, out
