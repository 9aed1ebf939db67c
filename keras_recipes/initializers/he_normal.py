"""HeNormal initializer."""

from __future__ import annotations

from keras_recipes._export import keras_recipes_export
from keras_recipes.initializers._preset import _Preset


@keras_recipes_export
class HeNormal(_Preset):
    """Kaiming He normal: `w ~ N(0, s**2)`, `s = sqrt(2 / n_i)`, untruncated.

    Use it with ReLU (the notes' basic structure for convolutions). Keras's `HeNormal`
    samples a truncated normal; the notes use a plain normal, as here.

    Args:
        seed: integer seed or None. Defaults to None.

    Example:

    >>> import keras
    >>> from keras_recipes.initializers import HeNormal
    >>> w = HeNormal(seed=0)((3, 3, 50, 64))  # n_i = 3 * 3 * 50
    >>> round(float(keras.ops.convert_to_numpy(w).std()) / (2 / 450) ** 0.5, 1)
    1.0

    References:
        - He et al., ICCV 2015, https://arxiv.org/abs/1502.01852
    """

    _scale, _mode, _distribution = 2.0, "fan_in", "untruncated_normal"
