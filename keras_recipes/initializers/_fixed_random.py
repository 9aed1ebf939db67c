"""Shared base of the fixed-range random presets (no fan dependence)."""

from __future__ import annotations

import keras

from keras_recipes.initializers._preset import _SeedConfig


class _FixedUniform(_SeedConfig, keras.initializers.RandomUniform):
    """A `RandomUniform` with fixed bounds; the config is the seed."""

    _minval = 0.0
    _maxval = 1.0

    def __init__(self, seed: int | None = None):
        super().__init__(minval=self._minval, maxval=self._maxval, seed=seed)


class _FixedNormal(_SeedConfig, keras.initializers.RandomNormal):
    """A plain (untruncated) `RandomNormal` with fixed mean and std; the config is the seed."""

    _mean = 0.0
    _stddev = 1.0

    def __init__(self, seed: int | None = None):
        super().__init__(mean=self._mean, stddev=self._stddev, seed=seed)
