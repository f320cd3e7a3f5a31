"""Where infra/ is (the local broker's script and pom, nginx's config), in a checkout or in an
installed wheel, and where the broker `tokenrelay broker` / `tokenrelay up` start keeps its data.

A checkout has infra/ beside app/. The wheel carries it inside the package as app/_infra: a
symlink to ../infra in the repository, whose files setuptools copies in as package data (so
`pip install tokenrelay` can run `tokenrelay up` without the repository).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from app.settings import Settings

PACKAGE = Path(__file__).resolve().parent
BROKER = Path("kafka") / "broker.sh"


def root() -> Path:
    """The infra/ directory: the checkout's if there is one, else the installed package's."""
    for where in (PACKAGE.parent / "infra", PACKAGE / "_infra"):
        if (where / BROKER).is_file():
            return where
    raise FileNotFoundError(
        f"infra/ is neither beside {PACKAGE} nor inside it: a checkout or an installed wheel "
        "has it; reinstall tokenrelay"
    )


def checkout() -> bool:
    """Whether this is a checkout (infra/ beside app/), not an installed wheel."""
    return root() == PACKAGE.parent / "infra"


def broker_script() -> Path:
    return root() / BROKER


def broker_env(settings: Settings, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment for broker.sh. Its default data dir is <repository>/.tokenrelay/broker,
    which for an installed wheel would be inside site-packages: there the broker keeps its
    data under the data dir instead (TOKENRELAY_BROKER_DIR, when set, wins either way)."""
    env = dict(environ)
    if "TOKENRELAY_BROKER_DIR" not in env and not checkout():
        env["TOKENRELAY_BROKER_DIR"] = str(Path(settings.data_dir).resolve() / "broker")
    return env
