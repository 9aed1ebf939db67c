"""SmallNormal initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._fixed_random import _FixedNormal


@keras_recipes_export
class SmallNormal(_FixedNormal):
    """The traditional `w ~ N(0, σ² = 0.01)` initialisation (seed 002): std 0.1, any size.

    Use it only to reproduce the notes' "traditional" baseline: a fixed std ignores the
    fan-in, so a ReLU layer multiplies the activation variance by `n_i · 0.01 / 2`, which
    fades for `n_i < 200` and explodes above. Prefer :class:`HeNormal` or
    :class:`GlorotNormal`. The notes give the *variance* 0.01, so the std is 0.1; the other
    common reading, std 0.01 (`0.01 * randn`), is
    `keras.initializers.RandomNormal(stddev=0.01)`. Untruncated, as the notes sample.

    Formula: `w ~ N(0, 0.1²)`.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import SmallNormal
    >>> w = keras.ops.convert_to_numpy(SmallNormal(seed=0)((300, 300)))
    >>> round(float(w.std()), 2)
    0.1

    References:
        - Glorot & Bengio, AISTATS 2010, https://proceedings.mlr.press/v9/glorot10a.html
    """

    _mean, _stddev = 0.0, 0.1
