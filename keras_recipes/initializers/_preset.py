"""Shared bases of the fixed presets: `VarianceScaling` ones and the seed-only config."""

from __future__ import annotations

from typing import Any

import keras


class _SeedConfig:
    """Mixin for a preset whose only constructor argument is ``seed``: that is its config."""

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Preset(_SeedConfig, keras.initializers.VarianceScaling):
    """A `VarianceScaling` with fixed scale/mode/distribution; the config is the seed."""

    _scale = 1.0
    _mode = "fan_in"
    _distribution = "uniform"

    def __init__(self, seed: int | None = None):
        super().__init__(scale=self._scale, mode=self._mode,
                         distribution=self._distribution, seed=seed)
