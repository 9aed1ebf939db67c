"""CenteredUniform initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._fixed_random import _FixedUniform


@keras_recipes_export
class CenteredUniform(_FixedUniform):
    """The traditional `w ~ U[-1/2, 1/2]` initialisation (seed 002), whatever the size.

    Use it only to reproduce the notes' "traditional" baseline: zero-mean, but its std
    `1 / sqrt(12) ≈ 0.29` ignores the fan-in, so a layer multiplies the activation variance
    by about `n_i / 12` (explodes for wide layers, fades for narrow ones). Prefer
    :class:`HeUniform` or :class:`GlorotUniform`. Same as
    `keras.initializers.RandomUniform(-0.5, 0.5)`, registered under a name.

    Formula: `w ~ U[-1/2, 1/2]`; mean 0, std `1 / sqrt(12)`.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import CenteredUniform
    >>> w = keras.ops.convert_to_numpy(CenteredUniform(seed=0)((200, 200)))
    >>> bool(w.min() >= -0.5 and w.max() < 0.5), round(float(w.std()), 2)
    (True, 0.29)

    References:
        - Glorot & Bengio, AISTATS 2010, section 4.2 (the "commonly used heuristic"
          `U[-1/sqrt(n), 1/sqrt(n)]` and the fixed ranges before it),
          https://proceedings.mlr.press/v9/glorot10a.html
    """

    _minval, _maxval = -0.5, 0.5
