"""Runs the `Example:` blocks of the diagnostics and plotting docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["keras_recipes.diagnostics.finding", "keras_recipes.diagnostics.doctor",
           "keras_recipes.diagnostics.probe", "keras_recipes.diagnostics.logger",
           "keras_recipes.plotting"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
