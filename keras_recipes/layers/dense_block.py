"""Dense (no bias) -> BatchNormalization -> activation: the notes' basic FC structure."""

from __future__ import annotations

from typing import Any

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive
from keras_recipes.initializers.keras_initializers import HeUniform


@keras_recipes_export
class DenseBlock(keras.layers.Layer):
    """Fully connected block of the course notes' "structure de base".

    Use it as the hidden layer of an MLP: `Dense(units, use_bias=False)` initialised with
    He uniform, then `BatchNormalization` (gamma=1, beta=0, moving mean 0, moving variance 1:
    Keras's defaults), then the activation. The bias is dropped because BN's beta replaces
    it.

        y = activation(gamma * (x W - mu) / sqrt(sigma**2 + eps) + beta)

    Args:
        units: output width, integer >= 1.
        activation: activation name or callable. Defaults to "relu".
        kernel_initializer: initializer of W. Defaults to He uniform (plain, seed None).
        momentum: BN moving-average momentum. Defaults to 0.99.
        epsilon: BN epsilon. Defaults to 1e-3.
        **kwargs: base `Layer` arguments (name, dtype, ...).

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import DenseBlock
    >>> tuple(DenseBlock(8)(np.ones((2, 4), dtype="float32")).shape)
    (2, 8)

    References:
        - Ioffe & Szegedy, "Batch Normalization", ICML 2015, https://arxiv.org/abs/1502.03167
    """

    def __init__(
        self,
        units: int,
        activation: Any = "relu",
        kernel_initializer: Any = None,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.units = int(check_positive("units", units, integer=True))
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or HeUniform())
        self.momentum = momentum
        self.epsilon = epsilon
        self.dense = keras.layers.Dense(
            self.units, use_bias=False, kernel_initializer=self.kernel_initializer,
            name="dense", dtype=self.dtype_policy,
        )
        self.norm = keras.layers.BatchNormalization(
            momentum=momentum, epsilon=epsilon, name="bn", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.norm.build(self.dense.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        return self.activation(self.norm(self.dense(inputs), training=training))

    def compute_output_shape(self, input_shape):
        return self.dense.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        })
        return config
