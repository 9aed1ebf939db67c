"""Shared base of the fixed `VarianceScaling` presets."""

from __future__ import annotations

from typing import Any

import keras


class _Preset(keras.initializers.VarianceScaling):
    """A `VarianceScaling` with fixed scale/mode/distribution; the config is the seed."""

    _scale = 1.0
    _mode = "fan_in"
    _distribution = "uniform"

    def __init__(self, seed: int | None = None):
        super().__init__(scale=self._scale, mode=self._mode,
                         distribution=self._distribution, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
