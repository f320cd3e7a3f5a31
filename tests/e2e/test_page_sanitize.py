"""Model text can never inject script: `<script>` and `<img onerror=…>` published as a
response's text render as text on the page attached with `/?rid=RID`.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from integration.procs import REPO, Edge, Stack, settings_env

from .browser import Browser
from .pagekit import assert_matches_snapshot, open_demo, snapshot, wait_status

pytestmark = pytest.mark.integration

HOSTILE = """# Hostile answer
<script>window.__pwned = "script"</script>
<img src=x onerror="window.__pwned = 'img'">
Inline <b>bold?</b> and <iframe src="javascript:window.__pwned='iframe'"></iframe>
[click me](javascript:window.__pwned='link') and ![pic](x" onerror="window.__pwned='attr')
```html
<script>window.__pwned = "code"</script>
```
"""


def test_script_and_img_onerror_in_model_text_render_as_text(
    shared: tuple[Stack, Edge], page: Browser
) -> None:
    stack, edge = shared
    rid = f"resp_{secrets.token_hex(12)}"
    published = subprocess.run(
        [sys.executable, "-m", "app.cli", "publish", "--id", rid],
        input=HOSTILE,
        text=True,
        capture_output=True,
        env=settings_env(stack.settings),
        cwd=REPO,
        timeout=120,
    )
    assert published.returncode == 0, published.stderr
    open_demo(page, edge.url, rid=rid)
    assert wait_status(page, "done", "error", "cancelled", timeout_s=30) == "done"
    found = page.eval(
        """(() => {
            const el = document.querySelector('#answer');
            return {
              pwned: window.__pwned ?? null,
              tags: [...el.querySelectorAll('script, img, iframe, b, object, embed')]
                .map(n => n.tagName),
              handlers: [...el.querySelectorAll('*')].flatMap(n => [...n.attributes])
                .filter(a => a.name.startsWith('on')).map(a => a.name),
              hrefs: [...el.querySelectorAll('a')].map(a => a.getAttribute('href')),
              text: el.textContent,
            };
        })()"""
    )
    assert found["pwned"] is None
    assert found["tags"] == [] and found["handlers"] == [], found
    assert all(not (h or "").startswith("javascript:") for h in found["hrefs"]), found
    for literal in (
        '<script>window.__pwned = "script"</script>',
        "<img src=x onerror=\"window.__pwned = 'img'\">",
        "<b>bold?</b>",
    ):
        assert literal in found["text"], literal
    assert_matches_snapshot(page, snapshot(edge.url, rid))
