"""Which side imports which: the edge and everything else under app/ never import agents/ (the
model adapters, their HTTP clients and the agents are worker-only code), and agents/ never
imports app/edge. Read from every file's AST, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The command line starts either process: `tokenrelay agents` imports the worker inside its
# command function, after argument parsing, so the edge's process never loads it.
LAZY_ENTRY_POINTS = frozenset({"app/cli.py"})


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """Every module `path` imports: (name, line, whether at module level)."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    out: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno, id(node) in top))
            # `from app import edge` names a package through its parent
            out += [(f"{node.module}.{a.name}", node.lineno, id(node) in top) for a in node.names]
    return out


def offences(
    tree: str, forbidden: str, allow_lazy: frozenset[str] = frozenset(), root: Path = ROOT
) -> list[str]:
    found = []
    for path in sorted((root / tree).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for name, line, top in imports(path):
            if name == forbidden or name.startswith(forbidden + "."):
                if rel in allow_lazy and not top:
                    continue
                found.append(f"{rel}:{line} imports {name}")
    return found


def test_app_never_imports_agents() -> None:
    assert offences("app", "agents", LAZY_ENTRY_POINTS) == []


def test_edge_never_imports_agents_even_lazily() -> None:
    assert offences("app/edge", "agents") == []


def test_agents_never_import_the_edge() -> None:
    assert offences("agents", "app.edge") == []


@pytest.mark.parametrize(
    ("where", "source", "found"),
    [
        ("app/edge/x.py", "from agents.models.base import UpstreamError\n", True),
        ("app/x.py", "import agents.worker\n", True),
        ("app/x.py", "from agents import models\n", True),
        ("app/x.py", "def f():\n    from agents.models import demo\n", True),
        ("app/cli.py", "def f():\n    from agents.worker import run_worker\n", False),
        ("app/cli.py", "from agents.worker import run_worker\n", True),
        ("app/x.py", "from app.catalog import Catalog\n", False),
        ("app/x.py", "from app.agentsish import x\n", False),
    ],
)
def test_the_check_finds_an_import(tmp_path: Path, where: str, source: str, found: bool) -> None:
    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_text(source)
    assert bool(offences("app", "agents", LAZY_ENTRY_POINTS, root=tmp_path)) is found
