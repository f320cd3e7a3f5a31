"""docs/settings.md names every setting, so the table cannot fall behind app/settings.py. A row
may name several (`TOKENRELAY_KAFKA_SSL_CAFILE`, `_CERTFILE`): a field counts as named when its
variable, or a `_SUFFIX` of it written that way, is in the page."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.settings import PREFIX, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def named(variable: str, text: str) -> bool:
    words = variable.split("_")
    suffixes = ("_" + "_".join(words[i:]) for i in range(1, len(words)))
    return f"`{variable}`" in text or any(f"`{s}`" in text for s in suffixes)


def test_every_setting_is_in_docs_settings_md() -> None:
    text = DOC.read_text()
    missing = [
        PREFIX + f.name.upper()
        for f in dataclasses.fields(Settings)
        if not named(PREFIX + f.name.upper(), text)
    ]
    assert not missing, f"add them to docs/settings.md: {missing}"
