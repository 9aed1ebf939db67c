"""Runs the `Example:` block of every docstring in the package.

Each module runs in a fresh temporary working directory, so examples that write files leave
nothing behind.
"""

import doctest
import importlib
import pkgutil

import pytest

import keras_recipes

pytestmark = pytest.mark.integration

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(keras_recipes.__path__, prefix="keras_recipes.")
    if info.name != "keras_recipes.cli"
)


def test_every_public_subpackage_is_walked():
    assert SLOW_EXAMPLES <= set(MODULES)
    for name in ("schedules", "callbacks", "lr_finder", "diagnostics", "analysis", "workflows",
                 "optimizers", "initializers", "layers", "tuning", "data"):
        assert any(m.startswith(f"keras_recipes.{name}.") for m in MODULES), name


#: Examples that run a whole workflow or search (30-60 s each on two busy cores); `make test-all`
#: runs them. In `make test` the same calls run in tests/workflows/test_practical.py,
#: tests/tuning/test_grid_search.py and tests/tuning/test_random_search.py.
SLOW_EXAMPLES = {"keras_recipes.workflows.practical.workflow",
                 "keras_recipes.tuning.grid_search", "keras_recipes.tuning.random_search"}


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_EXAMPLES
                                  else m for m in MODULES])
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
