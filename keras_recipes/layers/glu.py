"""Gated linear units with their own projections: GLU, GeGLU, SwiGLU."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive


@keras_recipes_export
class GLU(keras.layers.Layer):
    """Gated linear unit, `GLU(x) = act(x W + b) * (x V + c)`, with its own W and V.

    Use it as the first layer of a transformer feed-forward block or an MLP: the gate
    branch modulates the linear branch element-wise. Keras's `ops.glu` only splits an
    existing tensor; this layer owns both projections (one fused kernel of width
    `2 * units`, split in two). `activation="sigmoid"` is Dauphin et al.'s GLU; GeGLU
    and SwiGLU fix it to GELU and Swish (SiLU).

    Args:
        units: output width, integer >= 1.
        activation: gate activation. Defaults to "sigmoid".
        use_bias: add b and c. Defaults to True.
        kernel_initializer: initializer of [W, V]. Defaults to "glorot_uniform".
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import GLU
    >>> tuple(GLU(6)(np.ones((2, 3), dtype="float32")).shape)
    (2, 6)

    References:
        - Dauphin et al., "Language Modeling with Gated Convolutional Networks", ICML 2017,
          https://arxiv.org/abs/1612.08083
        - Shazeer, "GLU Variants Improve Transformer", 2020, https://arxiv.org/abs/2002.05202
    """

    def __init__(self, units: int, activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", **kwargs: Any):
        super().__init__(**kwargs)
        self.units = int(check_positive("units", units, integer=True))
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection = keras.layers.Dense(
            2 * self.units, use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
            name="projection", dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        self.projection.build(input_shape)

    def call(self, inputs):
        projected = self.projection(inputs)
        gate, linear = ops.split(projected, 2, axis=-1)
        return self.activation(gate) * linear

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config


_FIXED_GLU_DOC = """Args:
        units: output width, integer >= 1.
        use_bias: add the biases. Defaults to True.
        kernel_initializer: initializer of [W, V]. Defaults to "glorot_uniform".

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import {name}
    >>> tuple({name}(4)(np.ones((2, 3), dtype="float32")).shape)
    (2, 4)

    References:
        - Shazeer, "GLU Variants Improve Transformer", 2020, https://arxiv.org/abs/2002.05202"""


class _FixedGLU(GLU):
    """A GLU with its gate activation fixed by the subclass (``_activation``).

    A subclass's docstring ends with ``{fixed_glu}``, replaced by the Args, Example and
    References that every such layer shares.
    """

    _activation = "sigmoid"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__:  # None under python -OO
            cls.__doc__ = cls.__doc__.replace(
                "{fixed_glu}", _FIXED_GLU_DOC.replace("{name}", cls.__name__))

    def __init__(self, units: int, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", **kwargs: Any):
        kwargs.pop("activation", None)
        super().__init__(units, activation=self._activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("activation")
        return config


@keras_recipes_export
class GeGLU(_FixedGLU):
    """GeGLU, `GELU(x W + b) * (x V + c)` (Shazeer 2020). See :class:`GLU`.

    Use it in transformer feed-forward blocks (T5 v1.1, Gemma use it).

    {fixed_glu}
    """

    _activation = "gelu"


@keras_recipes_export
class SwiGLU(_FixedGLU):
    """SwiGLU, `Swish(x W + b) * (x V + c)` with Swish = SiLU (Shazeer 2020). See :class:`GLU`.

    Use it in transformer feed-forward blocks (PaLM and LLaMA use it).

    {fixed_glu}
    """

    _activation = "silu"
