"""Runs the `Example:` blocks of the foundation modules' docstrings."""

import doctest
import importlib

import pytest

MODULES = ["keras_recipes.data.dataset", "keras_recipes.data.splits", "keras_recipes.models",
           "keras_recipes._export"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
