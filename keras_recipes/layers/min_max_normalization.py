"""Min-max normalisation to [0, 1], with `adapt()`."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_recipes._export import keras_recipes_export


@keras_recipes_export
class MinMaxNormalization(keras.layers.Layer):
    """Map features to [0, 1] with the min and max seen by `adapt()`.

        x_bar = (x - x_min) / (x_max - x_min)

    Use it for bounded inputs (pixels in {0..255} -> [0, 1]), as the course notes advise.
    It is sensitive to outliers: one extreme training value squeezes all the others, and
    unseen data outside [x_min, x_max] maps outside [0, 1]. `check(x)` reports the
    fraction of such values and warns; `clip=True` clips the output to [0, 1]. For the
    z-score normalisation `(x - mean) / sqrt(var + eps)`, use Keras's
    `keras.layers.Normalization`, which already does it.

    Features whose range is 0 map to 0.

    Args:
        axis: the feature axis (or axes) kept separate; None for one global min/max.
            Defaults to -1.
        clip: clip the output to [0, 1]. Defaults to False.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.layers import MinMaxNormalization
    >>> layer = MinMaxNormalization()
    >>> layer.adapt(np.array([[0.0, 10.0], [255.0, 20.0]], dtype="float32"))
    >>> y = layer(np.array([[51.0, 15.0]], dtype="float32"))
    >>> np.round(np.asarray(y, dtype="float64"), 4).tolist()
    [[0.2, 0.5]]

    References:
        - scikit-learn `MinMaxScaler`, https://scikit-learn.org/stable/modules/generated/
          sklearn.preprocessing.MinMaxScaler.html
    """

    def __init__(self, axis: int | tuple[int, ...] | None = -1, clip: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if axis is not None and not isinstance(axis, (int, tuple, list)):
            raise ValueError(f"Argument `axis` must be an int, a tuple or None. Received: "
                             f"axis={axis!r}")
        self.axis = tuple(axis) if isinstance(axis, (tuple, list)) else axis
        self.clip = bool(clip)
        self.adapted = False

    def _kept_axes(self, rank: int) -> tuple[int, ...]:
        if self.axis is None:
            return ()
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        return tuple(a % rank for a in axes)

    def _stat_shape(self, input_shape) -> tuple[int, ...]:
        kept = self._kept_axes(len(input_shape))
        return tuple(input_shape[a] if a in kept else 1 for a in range(1, len(input_shape)))

    def build(self, input_shape):
        shape = self._stat_shape(input_shape)
        if any(s is None for s in shape):
            raise ValueError(f"The feature axes must have a known size. Received: "
                             f"input_shape={input_shape}")
        self.minimum = self.add_weight(shape=shape, initializer="zeros", trainable=False,
                                       name="minimum")
        self.maximum = self.add_weight(shape=shape, initializer="ones", trainable=False,
                                       name="maximum")

    def adapt(self, data, batch_size: int = 1024) -> None:
        """Compute the min and max of `data` (array, or iterable of batches).

        Args:
            data: a NumPy array / tensor, or an iterable (e.g. a `tf.data.Dataset`)
                yielding batches (or `(x, y)` tuples, of which x is used).
            batch_size: rows processed at once for arrays. Defaults to 1024.
        """
        if hasattr(data, "shape"):
            array = np.asarray(keras.ops.convert_to_numpy(data))
            batches = (array[i:i + batch_size] for i in range(0, len(array), batch_size))
        else:
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in data)
        low = high = None
        shape = None
        for batch in batches:
            batch = np.asarray(keras.ops.convert_to_numpy(batch), dtype="float64")
            kept = self._kept_axes(batch.ndim)
            reduce = tuple(a for a in range(batch.ndim) if a not in kept)
            b_low = np.min(batch, axis=reduce, keepdims=True)[0]
            b_high = np.max(batch, axis=reduce, keepdims=True)[0]
            low = b_low if low is None else np.minimum(low, b_low)
            high = b_high if high is None else np.maximum(high, b_high)
            shape = (None, *batch.shape[1:])
        if low is None:
            raise ValueError("Argument `data` must contain at least one batch. Received an "
                             "empty input.")
        if not self.built:
            self.build(shape)
        self.minimum.assign(low.astype(self.minimum.dtype))
        self.maximum.assign(high.astype(self.maximum.dtype))
        self.adapted = True

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        low = ops.cast(self.minimum, inputs.dtype)
        span = ops.cast(self.maximum, inputs.dtype) - low
        safe = ops.where(span > 0, span, ops.ones_like(span))
        out = ops.where(span > 0, (inputs - low) / safe, ops.zeros_like(inputs))
        return ops.clip(out, 0.0, 1.0) if self.clip else out

    def check(self, data) -> float:
        """Fraction of `data` outside the adapted range; warns when it is not zero.

        Args:
            data: an array or tensor shaped like the layer's input.

        Returns:
            The fraction (0.0 to 1.0) of values below the min or above the max.
        """
        x = np.asarray(keras.ops.convert_to_numpy(data), dtype="float64")
        low = keras.ops.convert_to_numpy(self.minimum.value)
        high = keras.ops.convert_to_numpy(self.maximum.value)
        fraction = float(np.mean((x < low) | (x > high)))
        if fraction > 0:
            warnings.warn(
                f"{fraction:.2%} of the values fall outside the range seen by adapt(); "
                "min-max normalisation maps them outside [0, 1] (outliers). Consider "
                "clip=True or z-score normalisation (keras.layers.Normalization).",
                UserWarning,
                stacklevel=2,
            )
        return fraction

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"axis": self.axis, "clip": self.clip})
        return config
