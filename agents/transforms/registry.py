"""View name -> transform class: the built-ins, then any registered under the entry point group
`tokenrelay.views` (app/views.py lists the same names for the edge, without importing them)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from agents.transforms.citations import Citations
from agents.transforms.json_view import JsonView
from agents.transforms.markdown import Markdown
from agents.transforms.plain import Plain
from agents.transforms.screened import moderated
from agents.transforms.sentence_view import Sentences
from app import views

BUILTIN: dict[str, Any] = {
    views.SENTENCES: Sentences,
    views.PLAIN: Plain,
    views.MARKDOWN: Markdown,
    views.MODERATED: moderated,  # a class, or a function of the spec that returns one
    views.CITATIONS: Citations,
    views.JSON: JsonView,
}


def transforms() -> dict[str, Any]:
    found = dict(BUILTIN)
    for entry in entry_points(group=views.ENTRY_POINTS):
        found.setdefault(entry.name, entry.load())
    return found
