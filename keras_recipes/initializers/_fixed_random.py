"""Shared base of the fixed-range random presets (no fan dependence)."""

from __future__ import annotations

from typing import Any

import keras


class _FixedUniform(keras.initializers.RandomUniform):
    """A `RandomUniform` with fixed bounds; the config is the seed."""

    _minval = 0.0
    _maxval = 1.0

    def __init__(self, seed: int | None = None):
        super().__init__(minval=self._minval, maxval=self._maxval, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _FixedNormal(keras.initializers.RandomNormal):
    """A plain (untruncated) `RandomNormal` with fixed mean and std; the config is the seed."""

    _mean = 0.0
    _stddev = 1.0

    def __init__(self, seed: int | None = None):
        super().__init__(mean=self._mean, stddev=self._stddev, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
