"""Every Python block of the README and of the guides in ``docs/`` runs, page by page.

Each page's ```` ```python ```` blocks run in order in one namespace, in a fresh temporary
folder, after ``keras.utils.set_random_seed(0)``: a block may use what an earlier block of
the same page defined, and nothing else. Shell commands are written in ```` ```bash ````
blocks and are not run here. ``docs/repair.md``'s two blocks run in
``tests/workflows/test_repair.py::test_the_guide_runs``, which also checks what they print.

The page tests are ``integration``; the three that run a workflow or searches are also
``slow``. The cheap checks (every block compiles, every fence names its language, every cited
benchmark result file exists, every result file is listed on the benchmarks page, the
README's size) carry no marker.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Pages whose Python blocks another test already runs, and which one.
RUN_ELSEWHERE = {"docs/repair.md": "tests/workflows/test_repair.py::test_the_guide_runs"}
#: Languages a fence may name; only ``python`` blocks are executed.
LANGUAGES = {"python", "bash", "text", "json", "yaml", "pycon"}
#: Pages whose blocks need the TensorFlow backend (``tf.distribute``), skipped on the others.
TENSORFLOW_PAGES = {"docs/distributed.md"}
#: Pages that run a whole workflow or searches (one short steamroller or practical run, or
#: eight KerasTuner trials: 17-25 s each on two busy cores): ``slow``, so ``make test-all``
#: runs them and ``make test`` does not.
WORKFLOW_PAGES = {"docs/steamroller.md", "docs/practical.md", "docs/tuning.md"}
README_LIMIT = 10 * 1024

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def pages() -> list[Path]:
    """The README and every hand-written page under ``docs/`` (not the API stubs)."""
    found = [ROOT / "README.md"]
    found += sorted(p for p in DOCS.rglob("*.md") if "api" not in p.relative_to(DOCS).parts)
    return found


def fences(text: str) -> list[tuple[str, str, int]]:
    """``(language, code, line)`` for each fenced block of a Markdown page."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match:
            indent, language = match.groups()
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            body = [line[len(indent):] if line.startswith(indent) else line
                    for line in lines[start:j]]
            blocks.append((language, "\n".join(body) + "\n", start + 1))
            i = j + 1
        else:
            i += 1
    return blocks


def python_blocks(page: Path) -> list[tuple[str, int]]:
    return [(code, line) for language, code, line in fences(page.read_text(encoding="utf-8"))
            if language == "python"]


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PAGES = pages()
RUNNABLE = [
    pytest.param(p, id=_name(p),
                 marks=[pytest.mark.slow] if _name(p) in WORKFLOW_PAGES else [])
    for p in PAGES if python_blocks(p) and _name(p) not in RUN_ELSEWHERE
]


def test_the_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; the limit is {README_LIMIT}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_fence_names_a_known_language(page):
    for language, _, line in fences(page.read_text(encoding="utf-8")):
        assert language in LANGUAGES, f"{_name(page)}:{line}: fence language {language!r}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_python_blocks_compile(page):
    for code, line in python_blocks(page):
        compile(code, f"{_name(page)}:{line}", "exec")


def test_cited_benchmark_results_exist():
    cited = set()
    for page in PAGES:
        cited |= set(re.findall(r"benchmarks/results/[\w.-]+\.json", page.read_text("utf-8")))
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert cited and not missing, missing


def test_the_benchmarks_page_lists_every_result_file():
    text = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in (ROOT / "benchmarks" / "results").glob("*.json"))
    assert files
    unlisted = [name for name in files if f"benchmarks/results/{name}" not in text]
    assert not unlisted, unlisted


@pytest.mark.integration
@pytest.mark.parametrize("page", RUNNABLE)
def test_page_blocks_run(page, tmp_path, monkeypatch):
    import keras
    import matplotlib

    if _name(page) in TENSORFLOW_PAGES and keras.backend.backend() != "tensorflow":
        pytest.skip(f"{_name(page)} uses tf.distribute, which needs the TensorFlow backend")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    namespace: dict = {"__name__": "__docs__"}
    blocks = python_blocks(page)
    ran = 0
    try:
        for code, line in blocks:
            exec(compile(code, f"{_name(page)}:{line}", "exec"), namespace)  # noqa: S102
            ran += 1
    finally:
        plt.close("all")
        keras.utils.clear_session()
    assert ran == len(blocks) > 0


def _griffe_extension():
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    import importlib.util

    path = DOCS / "_ext" / "griffe_docstrings.py"
    spec = importlib.util.spec_from_file_location("griffe_docstrings", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_fences_doctests_and_joins_argument_names():
    ext = _griffe_extension()
    docstring = ("Summary.\n\nExample:\n\n>>> f(1)\n['head']\n\nAfter.\n\n"
                 "```python\n>>> kept\n```\n")
    assert ext.fence_doctests(docstring) == (
        "Summary.\n\nExample:\n\n```pycon\n>>> f(1)\n['head']\n```\n\nAfter.\n\n"
        "```python\n>>> kept\n```")
    args = "Args:\n    a: first.\n    b, c,\n        d: the rest.\n"
    assert ext.join_name_lists(args) == "Args:\n    a: first.\n    b, c, d: the rest."
