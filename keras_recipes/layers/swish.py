"""Swish with a trainable beta: x * sigmoid(beta * x)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number


@keras_recipes_export
class Swish(keras.layers.Layer):
    """Parametric Swish, `f(x) = x * sigmoid(beta * x)` with `beta` learned.

    Use it where SiLU (`beta = 1`, Keras's `"silu"`) works and you want the network to
    choose between a linear-like (`beta -> 0`: x / 2) and a ReLU-like (`beta -> inf`)
    shape. `beta` is one scalar weight, or one per channel with `per_channel=True`.

        d f / d x    = sigmoid(beta x) + beta x sigmoid(beta x) (1 - sigmoid(beta x))
        d f / d beta = x**2 sigmoid(beta x) (1 - sigmoid(beta x))

    Args:
        beta: initial value of beta. Defaults to 1.0.
        trainable_beta: learn beta. Defaults to True.
        per_channel: one beta per last-axis channel. Defaults to False.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import Swish
    >>> y = Swish(beta=1.0)(np.array([[0.0, 1.0]], dtype="float32"))
    >>> np.round(np.asarray(y, dtype="float64"), 4).tolist()
    [[0.0, 0.7311]]

    References:
        - Ramachandran, Zoph, Le, "Searching for Activation Functions", 2017,
          https://arxiv.org/abs/1710.05941
    """

    def __init__(self, beta: float = 1.0, trainable_beta: bool = True,
                 per_channel: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.initial_beta = float(check_number("beta", beta))
        self.trainable_beta = bool(trainable_beta)
        self.per_channel = bool(per_channel)

    def build(self, input_shape):
        shape = (input_shape[-1],) if self.per_channel else ()
        self.beta = self.add_weight(
            shape=shape, initializer=keras.initializers.Constant(self.initial_beta),
            trainable=self.trainable_beta, name="beta",
        )

    def call(self, inputs):
        return inputs * ops.sigmoid(ops.cast(self.beta, inputs.dtype) * inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta": self.initial_beta, "trainable_beta": self.trainable_beta,
                       "per_channel": self.per_channel})
        return config
