"""Hyperparameter search over KerasTuner: grid, random and Hyperband, with the seeds' spaces."""

from keras_recipes.tuning._search import (
    DIVERGED,
    OPTIMIZERS,
    PENALTIES,
    RecipeGridSearch,
    RecipeHyperband,
    RecipeRandomSearch,
    make_optimizer,
)
from keras_recipes.tuning.grid_search import grid_search
from keras_recipes.tuning.random_search import ALGORITHMS, random_search
from keras_recipes.tuning.results import results_frame
from keras_recipes.tuning.search_spaces import (
    GRID_SPACE,
    RANDOM_SPACE,
    LogUniform,
    Uniform,
    check_space,
    define_hyperparameters,
    grid_size,
)

__all__ = [
    "ALGORITHMS",
    "DIVERGED",
    "GRID_SPACE",
    "OPTIMIZERS",
    "PENALTIES",
    "RANDOM_SPACE",
    "LogUniform",
    "RecipeGridSearch",
    "RecipeHyperband",
    "RecipeRandomSearch",
    "Uniform",
    "check_space",
    "define_hyperparameters",
    "grid_search",
    "grid_size",
    "make_optimizer",
    "random_search",
    "results_frame",
]
