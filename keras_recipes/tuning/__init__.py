"""Hyperparameter search over KerasTuner (grid, random, Hyperband) and the batch-size finder."""

from keras_recipes.tuning._search import (
    DIVERGED,
    OPTIMIZERS,
    PENALTIES,
    RecipeGridSearch,
    RecipeHyperband,
    RecipeRandomSearch,
    make_optimizer,
)
from keras_recipes.tuning.find_batch_size import (
    GENERALISING_RANGE,
    TYPICAL_BATCH_SIZES,
    BatchSizeResult,
    choose_batch_size,
    find_batch_size,
    is_out_of_memory,
    suggest_batch_size,
)
from keras_recipes.tuning.grid_search import grid_search
from keras_recipes.tuning.random_search import ALGORITHMS, random_search
from keras_recipes.tuning.results import results_frame, trial_seconds
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
    "GENERALISING_RANGE",
    "GRID_SPACE",
    "OPTIMIZERS",
    "PENALTIES",
    "RANDOM_SPACE",
    "TYPICAL_BATCH_SIZES",
    "BatchSizeResult",
    "LogUniform",
    "RecipeGridSearch",
    "RecipeHyperband",
    "RecipeRandomSearch",
    "Uniform",
    "check_space",
    "choose_batch_size",
    "define_hyperparameters",
    "find_batch_size",
    "grid_search",
    "grid_size",
    "is_out_of_memory",
    "make_optimizer",
    "random_search",
    "results_frame",
    "suggest_batch_size",
    "trial_seconds",
]
