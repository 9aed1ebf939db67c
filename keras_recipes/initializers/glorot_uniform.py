"""GlorotUniform initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._preset import _Preset


@keras_recipes_export
class GlorotUniform(_Preset):
    """Glorot/Xavier uniform: `w ~ U(-a, a)`, `a = sqrt(6 / (n_i + n_o))`.

    Use it with sigmoid or tanh activations (course notes). Same as Keras's
    `GlorotUniform`; provided so the four seed initializers come from one place.

    Fans: Dense kernel `(n_i, n_o)`; ConvND kernel `(k1, ..., kN, C_in, C_out)` gives
    `n_i = k1...kN * C_in` and `n_o = k1...kN * C_out` (the notes' `k**2 * d` with d the
    number of filters is a slip: the fan-in uses the input channels).

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import GlorotUniform
    >>> w = GlorotUniform(seed=0)((300, 100))
    >>> bool(abs(float(keras.ops.convert_to_numpy(w).max()) - (6 / 400) ** 0.5) < 1e-3)
    True

    References:
        - Glorot & Bengio, "Understanding the difficulty of training deep feedforward
          neural networks", AISTATS 2010, https://proceedings.mlr.press/v9/glorot10a.html
    """

    _scale, _mode, _distribution = 1.0, "fan_avg", "uniform"
