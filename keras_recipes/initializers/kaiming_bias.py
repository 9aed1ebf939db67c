"""KaimingBias initializer."""

from __future__ import annotations

from typing import Any

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number


@keras_recipes_export
class KaimingBias(keras.initializers.RandomUniform):
    """Seed 003's bias initialisation `b ~ U(-1/sqrt(n_i), 1/sqrt(n_i))`.

    Use it with :class:`HeUniform` kernels to reproduce seed 003's "Kaiming init"
    (`W₀ = sqrt(6/n_in)·U[-1,1]`, `b₀ = (1/sqrt(n_in))·U[-1,1]`), which is also PyTorch's
    default bias of `nn.Linear`/`nn.ConvNd`. A bias initializer only receives the bias's
    shape `(n_o,)`, so the layer's fan-in is an argument: the number of inputs of a Dense
    layer, `k1...kN · C_in` of a convolution. Seeds 000 and 002 initialise biases to 0 (the
    Keras default); both work in practice, a random bias only breaks no extra symmetry.

    Formula: `b ~ U(-a, a)`, `a = 1 / sqrt(fan_in)`.

    Args:
        fan_in: the layer's number of inputs per output unit, integer >= 1.
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import HeUniform, KaimingBias
    >>> layer = keras.layers.Dense(64, kernel_initializer=HeUniform(seed=0),
    ...                            bias_initializer=KaimingBias(fan_in=100, seed=0))
    >>> layer.build((None, 100))
    >>> b = keras.ops.convert_to_numpy(layer.bias)
    >>> bool(abs(b).max() <= 0.1 and abs(b).max() > 0.09)
    True

    References:
        - He et al., "Delving Deep into Rectifiers", ICCV 2015,
          https://arxiv.org/abs/1502.01852
        - PyTorch `nn.Linear.reset_parameters`,
          https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/linear.py
    """

    def __init__(self, fan_in: int, seed: int | None = None):
        check_number("fan_in", fan_in, low=1, integer=True)
        self.fan_in = int(fan_in)
        bound = 1.0 / self.fan_in**0.5
        super().__init__(minval=-bound, maxval=bound, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"fan_in": self.fan_in, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
