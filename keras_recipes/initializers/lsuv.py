"""LSUV: layer-sequential unit-variance initialisation (Mishkin & Matas, 2016)."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import check_number

_LINEAR = keras.activations.get("linear")


def _targets(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers with a `kernel` (Dense, ConvND, ...), in the model's order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_targets(layer))
        elif getattr(layer, "kernel", None) is not None and layer.trainable:
            found.append(layer)
    return found


def lsuv(
    model: keras.Model,
    x_batch,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    orthonormal: bool = True,
    seed: int | None = None,
) -> pd.DataFrame:
    """Initialise each Dense/Conv layer so its output has unit variance on a data batch.

    Use it for deep plain networks (no batch normalisation) where Glorot/He leave the
    activations drifting layer after layer: LSUV measures, on real data, the variance of
    each layer's pre-activation output and rescales the kernel until it is 1.

    Algorithm (Mishkin & Matas 2016, Algorithm 1), layer by layer in model order:

        1. (optional) kernel <- orthonormal matrix
        2. repeat: v = Var(pre-activation output of the layer on x_batch)
                   kernel <- kernel / sqrt(v)
           until |v - 1| < tol or max_iter iterations

    The pre-activation output is measured by switching the layer's own `activation` to
    linear while measuring (restored afterwards, also on error). Biases are left as they
    are (zeros by default). The model must be built (a functional or Sequential model with
    an Input).

    Args:
        model: a built Keras model; its kernels are modified in place.
        x_batch: one input batch (array or tensor), e.g. 64-512 training examples.
        tol: tolerance on the output variance, > 0. Defaults to 0.1.
        max_iter: maximum rescalings per layer, integer >= 1. Defaults to 10.
        orthonormal: start from `keras.initializers.Orthogonal`. Defaults to True.
        seed: seed of the orthonormal initialisation. Defaults to None.

    Returns:
        A DataFrame, one row per initialised layer: `layer`, `class`, `initial_std`
        (output std before LSUV), `final_var` (after), `iterations`, `converged`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.initializers import lsuv
    >>> model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
    ...                           keras.layers.Dense(32, activation="relu")])
    >>> x = np.random.default_rng(0).normal(size=(256, 20)).astype("float32")
    >>> report = lsuv(model, x, seed=0)
    >>> bool(report["converged"].all())
    True

    References:
        - Mishkin & Matas, "All you need is a good init", ICLR 2016,
          https://arxiv.org/abs/1511.06422
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    check_number("tol", tol, low=0, low_inclusive=False)
    check_number("max_iter", max_iter, low=1, integer=True)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            "Argument `model` must be built with an Input (functional or Sequential). "
            f"Received: model={model.name!r}"
        )
    layers = _targets(model)
    if not layers:
        raise ValueError(
            "Argument `model` must have a Dense/Conv layer to initialise. "
            f"Received: model={model.name!r}"
        )
    probe = keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                        [layer.output for layer in layers])
    x_batch = keras.ops.convert_to_tensor(x_batch)
    rows = []
    for i, layer in enumerate(layers):
        kernel = layer.kernel
        if orthonormal:
            init = keras.initializers.Orthogonal(seed=None if seed is None else seed + i)
            kernel.assign(init(kernel.shape, dtype=kernel.dtype))
        activation = getattr(layer, "activation", None)
        if activation is not None:
            layer.activation = _LINEAR
        try:
            initial_std, var, iterations = None, None, 0
            for _ in range(int(max_iter)):
                iterations += 1
                out = probe(x_batch, training=False)
                out = out[i] if isinstance(out, (list, tuple)) else out
                var = float(np.var(keras.ops.convert_to_numpy(out)))
                if initial_std is None:
                    initial_std = var**0.5
                if abs(var - 1.0) < tol or var <= 0 or not np.isfinite(var):
                    break
                kernel.assign(kernel / np.sqrt(var))
            else:
                out = probe(x_batch, training=False)
                out = out[i] if isinstance(out, (list, tuple)) else out
                var = float(np.var(keras.ops.convert_to_numpy(out)))
        finally:
            if activation is not None:
                layer.activation = activation
        rows.append({
            "layer": layer.name,
            "class": type(layer).__name__,
            "initial_std": initial_std,
            "final_var": var,
            "iterations": iterations,
            "converged": bool(abs(var - 1.0) < tol),
        })
    return pd.DataFrame(rows)
