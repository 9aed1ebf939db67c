"""Seed 002's weight penalties (L2, L1 scaled by λ/N) and how to add them to a built model."""

from keras_recipes.regularizers.apply_penalty import KERNEL_ATTRIBUTES, apply_penalty
from keras_recipes.regularizers.penalties import L1, L2

__all__ = ["KERNEL_ATTRIBUTES", "L1", "L2", "apply_penalty"]
