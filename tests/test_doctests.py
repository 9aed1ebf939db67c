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
    for name in ("schedules", "callbacks", "lr_finder", "diagnostics", "analysis", "workflows",
                 "optimizers", "initializers", "layers", "tuning", "data"):
        assert any(m.startswith(f"keras_recipes.{name}.") for m in MODULES), name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
