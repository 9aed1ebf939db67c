"""Callbacks for ``model.fit``: early stopping variants, keep-best, time budget, NaN guard."""

from keras_recipes.callbacks.early_stopping import EarlyStopping
from keras_recipes.callbacks.stop_reason import StopReason

__all__ = [
    "EarlyStopping",
    "StopReason",
]
