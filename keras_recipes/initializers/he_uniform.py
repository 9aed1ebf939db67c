"""HeUniform initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._preset import _Preset


@keras_recipes_export
class HeUniform(_Preset):
    """Kaiming He uniform: `w ~ U(-a, a)`, `a = sqrt(6 / n_i)`.

    Use it with ReLU (the notes' basic structure for fully connected layers). Same as
    Keras's `HeUniform`. Fans as in :class:`GlorotUniform`.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import HeUniform
    >>> w = HeUniform(seed=0)((600, 10))
    >>> bool(float(keras.ops.convert_to_numpy(w).max()) <= 0.1)
    True

    References:
        - He et al., "Delving Deep into Rectifiers", ICCV 2015,
          https://arxiv.org/abs/1502.01852
    """

    _scale, _mode, _distribution = 2.0, "fan_in", "uniform"
