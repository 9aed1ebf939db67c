"""UnitUniform initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._fixed_random import _FixedUniform


@keras_recipes_export
class UnitUniform(_FixedUniform):
    """The traditional `w ~ U[0, 1]` initialisation (seed 002), whatever the layer's size.

    Use it only to reproduce the notes' "traditional" baseline and see why it fails: every
    weight is positive (mean 0.5), so a unit's pre-activation grows like `n_i / 2` and the
    activations explode or saturate layer after layer. Prefer :class:`HeUniform` (ReLU) or
    :class:`GlorotUniform` (tanh, sigmoid). Same as
    `keras.initializers.RandomUniform(0.0, 1.0)`, registered under a name.

    Formula: `w ~ U[0, 1]`; mean 1/2, std `1 / sqrt(12)`.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import UnitUniform
    >>> w = keras.ops.convert_to_numpy(UnitUniform(seed=0)((200, 200)))
    >>> bool(w.min() >= 0.0 and w.max() < 1.0), round(float(w.mean()), 1)
    (True, 0.5)

    References:
        - Glorot & Bengio, AISTATS 2010 (the heuristic they replace),
          https://proceedings.mlr.press/v9/glorot10a.html
    """

    _minval, _maxval = 0.0, 1.0
