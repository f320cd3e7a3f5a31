"""Every error code is a class of the one tree (app/errors.py), and the documents list them all:
ARCHITECTURE.md's error table every terminal code, docs/api.md every code a client can see."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app import errors

ROOT = Path(__file__).resolve().parents[2]
# Never a client's: a Kafka record's (dead-lettered), the producer SDK's (raised to its caller).
NOT_ANSWERED = {errors.DecodeError.code, errors.WriteFailed.code}
# Raised only as their subclasses, which name the limit.
ABSTRACT = (errors.StreamError, errors.TooLarge, errors.TooMany)


def codes() -> set[str]:
    return {c.code for c in errors.tree() if c not in ABSTRACT}


def error_table() -> str:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    start = text.index("**Errors**")
    return text[start : text.index("\n\n", text.index("| what | code | retriable |", start))]


def mentioned(code: str, text: str) -> bool:
    return re.search(rf"`{re.escape(code)}`", text) is not None


@pytest.mark.parametrize("code", sorted(errors.terminal_codes()))
def test_the_error_table_lists_every_terminal_code(code: str) -> None:
    assert mentioned(code, error_table()), f"ARCHITECTURE.md's error table lacks `{code}`"


@pytest.mark.parametrize("code", sorted(codes() - NOT_ANSWERED))
def test_the_api_document_mentions_every_code(code: str) -> None:
    assert mentioned(code, (ROOT / "docs" / "api.md").read_text()), f"docs/api.md lacks `{code}`"


@pytest.mark.parametrize("code", sorted(NOT_ANSWERED))
def test_the_codes_no_client_sees_are_explained(code: str) -> None:
    assert mentioned(code, (ROOT / "ARCHITECTURE.md").read_text())


def test_each_class_has_its_docstring_and_a_code_of_its_own() -> None:
    for cls in errors.tree():
        assert cls.__doc__ and cls.__doc__.strip(), cls.__name__
        assert "code" in vars(cls), cls.__name__
    # A terminal code names one class; an HTTP code may repeat only as `bad_request`, the
    # worker's word for a request the edge would have refused with the same code.
    terminal = [c.code for c in errors.tree() if issubclass(c, errors.StreamError)]
    assert len(terminal) == len(set(terminal))


def test_no_code_is_defined_outside_the_tree() -> None:
    names = {c.__name__ for c in errors.tree()}
    found = []
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "agents").rglob("*.py")]:
        if path.relative_to(ROOT).as_posix() in ("app/errors.py",) or "client" in path.parts:
            continue  # app/client/: the client library's own exceptions, another package's tree
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in names for b in node.bases
            ):
                assigned = {t.id for s in node.body if isinstance(s, ast.Assign)
                            for t in s.targets if isinstance(t, ast.Name)}  # fmt: skip
                if "code" in assigned:
                    found.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert found == []


def test_the_check_finds_a_missing_code() -> None:
    table = error_table().replace("`upstream_timeout`", "`x`")
    assert not mentioned("upstream_timeout", table)
