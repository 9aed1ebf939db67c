"""GlorotNormal initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._preset import _Preset


@keras_recipes_export
class GlorotNormal(_Preset):
    """Glorot/Xavier normal: `w ~ N(0, s**2)`, `s = sqrt(2 / (n_i + n_o))`, untruncated.

    Use it with sigmoid or tanh activations. Keras's `GlorotNormal` samples a truncated
    normal (rescaled so the std is still s); the course notes use a plain normal, as here.
    Fans as in :class:`GlorotUniform`.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import GlorotNormal
    >>> w = GlorotNormal(seed=0)((400, 400))
    >>> round(float(keras.ops.convert_to_numpy(w).std()) / (2 / 800) ** 0.5, 1)
    1.0

    References:
        - Glorot & Bengio, AISTATS 2010, https://proceedings.mlr.press/v9/glorot10a.html
    """

    _scale, _mode, _distribution = 1.0, "fan_avg", "untruncated_normal"
