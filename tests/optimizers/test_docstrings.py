"""Runs the `Example:` blocks of the optimizers, initializers, layers and playground."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_recipes.optimizers.yogi", "keras_recipes.optimizers.nesterov_rmsprop",
    "keras_recipes.optimizers.radam", "keras_recipes.optimizers.lookahead",
    "keras_recipes.optimizers.state_size",
    "keras_recipes.initializers.glorot_uniform", "keras_recipes.initializers.glorot_normal",
    "keras_recipes.initializers.he_uniform", "keras_recipes.initializers.he_normal",
    "keras_recipes.initializers.torch_default", "keras_recipes.initializers.lsuv",
    "keras_recipes.layers.dense_block", "keras_recipes.layers.conv_block",
    "keras_recipes.layers.residual_block", "keras_recipes.layers.swish",
    "keras_recipes.layers.glu", "keras_recipes.layers.min_max_normalization",
    "keras_recipes.playground",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
