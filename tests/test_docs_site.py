"""The built documentation site opens in a headless browser.

``make docs`` builds the site into ``build/site/`` and then runs this file with
``KERAS_RECIPES_DOCS_SITE`` set to that folder. Headless Chromium (Debian's ``chromium``
package) opens the index, one guide and one API page: each must exist, render the text it
is built from, and give a screenshot, saved in ``build/docs-screenshots/`` (or
``KERAS_RECIPES_DOCS_SCREENSHOTS``). Without the variable (a plain ``pytest`` run, which does
not build the site) the tests are skipped with that reason; without Chromium they fail, since
``make docs`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = os.environ.get("KERAS_RECIPES_DOCS_SITE")
SHOTS = Path(os.environ.get("KERAS_RECIPES_DOCS_SCREENSHOTS",
                            ROOT / "build" / "docs-screenshots"))

pytestmark = pytest.mark.skipif(
    not SITE, reason="the site is not built here: `make docs` builds it and runs these tests")

#: page → text the rendered page must contain (from its Markdown or its docstrings).
PAGES = {
    "index.html": "What's inside",
    "steamroller.html": "Settings and stages are data",
    "api/optimizers.html": "Yogi optimizer (Zaheer et al., 2018)",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: `apt-get install -y chromium` (make docs does it "
                "when run as root)")


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--hide-scrollbars", "--disable-dev-shm-usage", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders_and_is_photographed(page):
    path = Path(SITE).resolve() / page
    assert path.is_file(), f"the built site has no {page} (looked in {path.parent})"
    dom = _run("--virtual-time-budget=5000", "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert PAGES[page] in dom.stdout, f"{page} does not show {PAGES[page]!r}"
    assert "{base}" not in dom.stdout, f"{page} shows an unformatted docstring placeholder"

    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")
    shot.unlink(missing_ok=True)
    result = _run("--window-size=1280,1600", f"--screenshot={shot}", path.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == PNG_MAGIC, f"no screenshot of {page}"
    assert shot.stat().st_size > 20_000, f"{shot} is {shot.stat().st_size} bytes: a blank page?"
