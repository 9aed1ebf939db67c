"""The package's import graph: the private-Keras module is a leaf, and no module needs another
to be imported first.

The graph is read from the sources with ``ast`` (every ``import`` statement, those inside
functions included, since a lazy import is still a dependency). The slow test imports each
module alone in a fresh interpreter, which is how a user or a tool first meets it.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_recipes"
CORE = ("keras_recipes._keras_private", "keras_recipes._state", "keras_recipes._distribute")


def _modules(package: pathlib.Path = PACKAGE) -> dict[str, pathlib.Path]:
    """``{dotted name: path}`` of every module of ``package`` (a package is its __init__)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: pathlib.Path, known: dict) -> set[str]:
    """The modules of the package that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:  # `from keras_recipes import _state`: the module itself
                    found.add(full)
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def import_graph(package: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the package's own modules."""
    known = _modules(package)
    return {name: _imports(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]], skip: set[str] = frozenset()) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan), leaving out ``skip``.

    Package ``__init__`` modules are skipped by the callers: every submodule's import runs
    its package's ``__init__``, which re-exports the submodules, so they would join every
    module into one component without saying anything about the modules' own design.
    """
    nodes = [n for n in graph if n not in skip]
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target in skip:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def _packages(package: pathlib.Path = PACKAGE) -> set[str]:
    return {name for name, path in _modules(package).items() if path.name == "__init__.py"}


def test_graph_reader_on_a_sample_package(tmp_path):
    """The reader itself: absolute, relative, lazy and ``from package import module`` forms."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("import pkg.b\n")
    (package / "b.py").write_text("def f():\n    from pkg.sub import c\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("from .. import a\nfrom ..b import f\nimport os\n")
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"},
                     "pkg.sub": set(), "pkg.sub.c": {"pkg.a", "pkg.b"}}
    assert cycles(graph, _packages(package)) == [{"pkg.a", "pkg.b", "pkg.sub.c"}]


def test_private_keras_module_is_a_leaf():
    graph = import_graph()
    assert graph["keras_recipes._keras_private"] == set()


def test_state_and_distribute_do_not_import_each_other():
    graph = import_graph()
    # `_state` snapshots variables per replica through `_distribute`; `_distribute` needs
    # nothing of `_state` (its multi-worker patch lives in `_keras_private`; what a set-up
    # needs of the process, shared with the command line, in the leaf `_distribute_env`).
    assert "keras_recipes._state" not in graph["keras_recipes._distribute"]
    assert graph["keras_recipes._distribute"] <= {"keras_recipes._keras_private",
                                                  "keras_recipes._distribute_env"}
    assert graph["keras_recipes._distribute_env"] == set()
    assert graph["keras_recipes._state"] <= {"keras_recipes._keras_private",
                                             "keras_recipes._distribute"}


def test_no_cycle_goes_through_the_core_modules():
    for component in cycles(import_graph(), _packages()):
        assert not component & set(CORE), f"import cycle: {sorted(component)}"


def _every_module() -> list[str]:
    return sorted(_modules())


@pytest.mark.slow  # one fresh interpreter per module (a Keras import each)
@pytest.mark.parametrize("module", _every_module())
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]

