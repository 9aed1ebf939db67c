"""Learning-rate finder (Smith's range test) and the seed's "largest ε0 that does not
diverge" probe; both leave the model exactly as they found it."""

from keras_recipes.lr_finder.callback import LRFinder
from keras_recipes.lr_finder.cyclic_bounds import cyclic_bounds, cyclic_lr
from keras_recipes.lr_finder.find_lr import find_lr, lr_sweep
from keras_recipes.lr_finder.max_stable_lr import MaxStableLRResult, find_max_stable_lr
from keras_recipes.lr_finder.result import LRFinderResult
from keras_recipes.lr_finder.suggestions import (
    SUGGESTION_RULES,
    combined,
    minimum,
    steepest,
    valley,
)

__all__ = [
    "SUGGESTION_RULES",
    "LRFinder",
    "LRFinderResult",
    "MaxStableLRResult",
    "combined",
    "cyclic_bounds",
    "cyclic_lr",
    "find_lr",
    "find_max_stable_lr",
    "lr_sweep",
    "minimum",
    "steepest",
    "valley",
]
