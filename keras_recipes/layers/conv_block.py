"""Conv (no bias) -> BatchNormalization -> activation -> optional MaxPool."""

from __future__ import annotations

from typing import Any

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_one_of, check_positive
from keras_recipes.initializers.he_normal import HeNormal

_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
_POOL = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D,
         3: keras.layers.MaxPooling3D}


@keras_recipes_export
class ConvBlock(keras.layers.Layer):
    """Convolution block of the course notes' "structure de base".

    Use it to stack a CNN: `ConvND(filters, kernel_size, use_bias=False)` initialised with
    He normal (plain normal, `s = sqrt(2 / (k**rank * C_in))`), `BatchNormalization` with
    Keras's defaults (gamma=1, beta=0, m=0, s=1), the activation, then `MaxPooling` when
    `pool_size` is given.

        y = maxpool(activation(BN(conv(x, W))))

    Args:
        filters: number of output channels, integer >= 1.
        kernel_size: convolution window. Defaults to 3.
        strides: convolution strides. Defaults to 1.
        padding: "same" or "valid". Defaults to "same".
        activation: activation name or callable. Defaults to "relu".
        pool_size: max-pooling window, or None for no pooling. Defaults to None.
        rank: 1, 2 or 3 (Conv1D/2D/3D). Defaults to 2.
        kernel_initializer: initializer of the kernel. Defaults to He normal.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import ConvBlock
    >>> tuple(ConvBlock(4, pool_size=2)(np.ones((1, 8, 8, 1), dtype="float32")).shape)
    (1, 4, 4, 4)

    References:
        - He et al., "Delving Deep into Rectifiers", ICCV 2015,
          https://arxiv.org/abs/1502.01852
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any = 3,
        strides: Any = 1,
        padding: str = "same",
        activation: Any = "relu",
        pool_size: Any = None,
        rank: int = 2,
        kernel_initializer: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.filters = int(check_positive("filters", filters, integer=True))
        self.rank = check_one_of("rank", rank, (1, 2, 3))
        self.padding = check_one_of("padding", padding, ("same", "valid"))
        self.kernel_size = kernel_size
        self.strides = strides
        self.activation = keras.activations.get(activation)
        self.pool_size = pool_size
        self.kernel_initializer = keras.initializers.get(kernel_initializer or HeNormal())
        self.conv = _CONV[rank](
            self.filters, kernel_size, strides=strides, padding=padding, use_bias=False,
            kernel_initializer=self.kernel_initializer, name="conv", dtype=self.dtype_policy,
        )
        self.norm = keras.layers.BatchNormalization(name="bn", dtype=self.dtype_policy)
        self.pool = (_POOL[rank](pool_size, name="pool", dtype=self.dtype_policy)
                     if pool_size is not None else None)

    def build(self, input_shape):
        self.conv.build(input_shape)
        shape = self.conv.compute_output_shape(input_shape)
        self.norm.build(shape)
        if self.pool is not None:
            self.pool.build(shape)

    def call(self, inputs, training=None):
        x = self.activation(self.norm(self.conv(inputs), training=training))
        return self.pool(x) if self.pool is not None else x

    def compute_output_shape(self, input_shape):
        shape = self.conv.compute_output_shape(input_shape)
        return self.pool.compute_output_shape(shape) if self.pool is not None else shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "pool_size": self.pool_size,
            "rank": self.rank,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
