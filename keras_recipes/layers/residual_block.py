"""Residual block with an identity (A) or 1x1 projection (B) shortcut."""

from __future__ import annotations

from typing import Any

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive
from keras_recipes.initializers.he_normal import HeNormal


@keras_recipes_export
class ResidualBlock(keras.layers.Layer):
    """Two 3x3 conv-BN layers plus a shortcut (He et al. 2016), for 2-D feature maps.

    Use it to build ResNet-style CNNs. The main path is conv -> BN -> activation -> conv ->
    BN; the shortcut is the identity ("ResBlock A") when the input already has `filters`
    channels and `strides == 1`, otherwise a 1x1 convolution with the same stride plus BN
    ("ResBlock B", the projection shortcut). Output:

        y = activation(F(x) + shortcut(x))

    Args:
        filters: output channels, integer >= 1.
        kernel_size: window of the two main convolutions. Defaults to 3.
        strides: stride of the first convolution (and of the projection). Defaults to 1.
        activation: activation name or callable. Defaults to "relu".
        projection: force (True) or forbid (False) the 1x1 projection; None chooses it when
            the shape changes. Defaults to None.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import ResidualBlock
    >>> tuple(ResidualBlock(8, strides=2)(np.ones((1, 8, 8, 4), dtype="float32")).shape)
    (1, 4, 4, 8)

    References:
        - He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
          https://arxiv.org/abs/1512.03385
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        strides: int = 1,
        activation: Any = "relu",
        projection: bool | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.filters = int(check_positive("filters", filters, integer=True))
        self.kernel_size = kernel_size
        self.strides = int(check_positive("strides", strides, integer=True))
        self.activation = keras.activations.get(activation)
        self.projection = projection
        conv = dict(padding="same", use_bias=False, dtype=self.dtype_policy)
        self.conv1 = keras.layers.Conv2D(filters, kernel_size, strides=strides, name="conv1",
                                         kernel_initializer=HeNormal(), **conv)
        self.bn1 = keras.layers.BatchNormalization(name="bn1", dtype=self.dtype_policy)
        self.conv2 = keras.layers.Conv2D(filters, kernel_size, name="conv2",
                                         kernel_initializer=HeNormal(), **conv)
        self.bn2 = keras.layers.BatchNormalization(name="bn2", dtype=self.dtype_policy)
        self.shortcut_conv = None
        self.shortcut_bn = None

    def _needs_projection(self, input_shape) -> bool:
        if self.projection is not None:
            return bool(self.projection)
        return self.strides != 1 or input_shape[-1] != self.filters

    def build(self, input_shape):
        self.conv1.build(input_shape)
        shape = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(shape)
        self.conv2.build(shape)
        self.bn2.build(shape)
        if self._needs_projection(input_shape):
            self.shortcut_conv = keras.layers.Conv2D(
                self.filters, 1, strides=self.strides, padding="same", use_bias=False,
                kernel_initializer=HeNormal(), name="shortcut_conv", dtype=self.dtype_policy,
            )
            self.shortcut_bn = keras.layers.BatchNormalization(
                name="shortcut_bn", dtype=self.dtype_policy
            )
            self.shortcut_conv.build(input_shape)
            self.shortcut_bn.build(shape)
        elif input_shape[-1] != self.filters or self.strides != 1:
            raise ValueError(
                "Argument `projection` must be True or None when the shape changes. "
                f"Received: projection={self.projection}, input channels={input_shape[-1]}, "
                f"filters={self.filters}, strides={self.strides}"
            )

    @property
    def uses_projection(self) -> bool:
        """True when the shortcut is a 1x1 convolution (ResBlock B)."""
        return self.shortcut_conv is not None

    def call(self, inputs, training=None):
        x = self.activation(self.bn1(self.conv1(inputs), training=training))
        x = self.bn2(self.conv2(x), training=training)
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
        else:
            shortcut = inputs
        return self.activation(x + shortcut)

    def compute_output_shape(self, input_shape):
        return self.conv1.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "activation": keras.activations.serialize(self.activation),
            "projection": self.projection,
        })
        return config
