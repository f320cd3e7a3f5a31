"""Which streams of a response the edge serves to an ordinary reader: a response that asked for
the `moderated` view is served only through that view (its raw stream, its other views and the
text of its snapshot are withheld), so what a reader sees has passed moderation.

The edge learns a response's views from its index records (app/edge/lookup.py `views`).
Kafka consumers of `<prefix>.events` are privileged readers: nothing here applies to them.
"""

from __future__ import annotations

from app.errors import Withheld
from app.views import MODERATED


def served(views: tuple[str, ...], view: str | None) -> bool:
    """Whether an ordinary reader may read `view` (None: the raw stream) of a response that
    asked for `views`."""
    return view == MODERATED or MODERATED not in views


def check(views: tuple[str, ...], rid: str, view: str | None) -> None:
    """Raises Withheld (403 `moderated_response`) for a stream an ordinary reader may not read."""
    if not served(views, view):
        what = "raw stream" if view is None else f"view {view!r}"
        raise Withheld(f"response {rid[:200]!r} is moderated: its {what} is not served; "
                       f"read {moderated_url(rid[:200])}")  # fmt: skip


def moderated_url(rid: str) -> str:
    return f"/v1/responses/{rid}/events?view={MODERATED}"
