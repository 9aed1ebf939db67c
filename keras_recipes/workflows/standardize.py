"""`standardization_layer`: train-set standardisation that travels inside the model."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["standardization_layer", "wrap_with_layer"]


def standardization_layer(x_train, name: str = "standardize") -> keras.layers.Normalization:
    """A ``keras.layers.Normalization`` holding the mean and variance of ``x_train``.

    The workflows put it in front of the network, so that the saved ``.keras`` file holds
    the statistics and predicts on raw inputs. Statistics are per feature for tabular data
    (shape ``(n, d)``) and per channel for images (``(n, h, w, c)``): the last axis is
    kept, every other axis is averaged. A feature that is constant on the training set
    gets variance 1 (it is only centred), so that a different value at test time cannot be
    divided by Keras's ``epsilon`` and explode.

    The layer computes ``(x − mean) / max(√variance, ε)`` (Keras's formula, ε = 1e-7).

    Args:
        x_train: training inputs (never validation or test data).
        name: layer name. Defaults to ``"standardize"``.

    Returns:
        A ``keras.layers.Normalization`` built with ``mean=`` and ``variance=``.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.workflows.standardize import standardization_layer
    >>> x = np.array([[1.0, 1000.0], [3.0, 3000.0]], dtype="float32")
    >>> np.asarray(standardization_layer(x)(x)).round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """
    x = np.asarray(x_train, dtype="float64")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError("Argument `x_train` must hold at least one example with a batch axis. "
                         f"Received: shape={x.shape}")
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    variance = x.var(axis=axes)
    variance = np.where(variance > 0, variance, 1.0)
    return keras.layers.Normalization(axis=-1, mean=mean.astype("float32"),
                                      variance=variance.astype("float32"), name=name)


def wrap_with_layer(net: keras.Model, layer: Any, input_shape) -> keras.Model:
    """``inputs → layer → net`` as one functional model (for user-built networks)."""
    inputs = keras.Input(shape=tuple(input_shape))
    return keras.Model(inputs, net(layer(inputs)), name=net.name)
