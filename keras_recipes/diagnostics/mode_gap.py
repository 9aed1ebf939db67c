"""The same examples in training mode and in inference mode: `train_inference_gap`.

A model with BatchNormalization normalises with the batch's statistics in training mode and
with its moving averages in inference mode; a model with dropout drops units in training
mode only. After few steps with a high BatchNorm momentum (Keras's default 0.99 keeps 99 %
of the old average at each step), the moving averages are still close to their initial
values (mean 0, variance 1) and inference-mode predictions can be much worse than what the
training loss shows: train accuracy 1.0, validation accuracy far lower, on the same
distribution.

:func:`train_inference_gap` measures the loss on one batch in both modes, and for each
BatchNormalization layer how far the batch's statistics of its input are from the moving
ones. It uses ``model.stateless_call``, so neither the BatchNorm moving statistics nor the
dropout seed state change.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_recipes.diagnostics.inputs import leaves, model_inputs


def _accuracy(y, pred) -> float | None:
    y, pred = np.asarray(y), np.asarray(pred)
    if pred.ndim != 2:
        return None
    if pred.shape[-1] == 1:
        labels = y.reshape(-1)
        return float(np.mean((pred[:, 0] > 0.5) == (labels > 0.5)))
    labels = y.argmax(axis=-1) if y.ndim == 2 and y.shape[-1] == pred.shape[-1] else y
    labels = labels.reshape(-1)
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        return None
    return float(np.mean(pred.argmax(axis=-1) == labels.astype("int64")))


def _batchnorm_layers(model) -> list:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _moment_gap(layer, a) -> dict[str, float]:
    """Mean standardised shift |μ_batch − m| / √(s + ε) and mean variance ratio σ²_batch / s."""
    a = np.asarray(keras.ops.convert_to_numpy(a), dtype="float64")
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    axis = [ax % a.ndim for ax in axis]
    reduce = tuple(i for i in range(a.ndim) if i not in axis)
    mean, var = a.mean(axis=reduce).reshape(-1), a.var(axis=reduce).reshape(-1)
    m = np.asarray(keras.ops.convert_to_numpy(layer.moving_mean), "float64").reshape(-1)
    s = np.asarray(keras.ops.convert_to_numpy(layer.moving_variance), "float64").reshape(-1)
    return {"mean_shift": float(np.mean(np.abs(mean - m) / np.sqrt(s + layer.epsilon))),
            "variance_ratio": float(np.mean((var + layer.epsilon) / (s + layer.epsilon))),
            "momentum": float(layer.momentum)}


def train_inference_gap(model, x, y, loss_fn) -> dict[str, Any]:
    """Loss (and accuracy) of one batch in training mode and in inference mode.

    Use it at the end of training to check that the model evaluates as it trained; the
    :class:`~keras_recipes.diagnostics.DiagnosticLogger` calls it on its probe batch in
    ``on_train_end``, and the ``train_inference_mismatch`` doctor rule reads the result.

    Args:
        model: a built functional or Sequential model.
        x: inputs, as the model takes them.
        y: targets.
        loss_fn: ``loss_fn(y, pred)`` returning per-example losses (the compiled loss).

    Returns:
        ``loss_training_mode``, ``loss_inference_mode``, the accuracies when the targets are
        class labels, ``batchnorm_layers`` and ``dropout_layers`` (counts), and
        ``batchnorm`` = ``{layer: {"mean_shift", "variance_ratio", "momentum"}}``: the mean
        over channels of ``|μ_batch − m| / √(s + ε)`` and of ``(σ²_batch + ε) / (s + ε)``,
        with ``μ_batch, σ²_batch`` the batch moments of the layer's input in training mode
        and ``m, s`` its moving mean and variance.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.diagnostics.mode_gap import train_inference_gap
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
    ...                           keras.layers.BatchNormalization(),
    ...                           keras.layers.Dense(2, activation="softmax")])
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (32, 3)).astype("float32")
    >>> gap = train_inference_gap(model, x, np.zeros(32, "int64"),
    ...                           keras.losses.sparse_categorical_crossentropy)
    >>> sorted(gap)[:3], gap["batchnorm_layers"]
    (['accuracy_inference_mode', 'accuracy_training_mode', 'batchnorm'], 1)
    """
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    pred_train, _ = model.stateless_call(trainable, non_trainable, x, training=True)
    pred_infer, _ = model.stateless_call(trainable, non_trainable, x, training=False)
    out: dict[str, Any] = {}
    for mode, pred in (("training_mode", pred_train), ("inference_mode", pred_infer)):
        pred = leaves(pred)[0]
        out[f"loss_{mode}"] = float(keras.ops.convert_to_numpy(
            keras.ops.mean(loss_fn(y, pred))))
        acc = _accuracy(keras.ops.convert_to_numpy(leaves(y)[0]),
                        keras.ops.convert_to_numpy(pred))
        if acc is not None:
            out[f"accuracy_{mode}"] = acc
    bn = _batchnorm_layers(model)
    out["batchnorm_layers"] = len(bn)
    out["dropout_layers"] = sum("Dropout" in type(layer).__name__ for layer in model.layers)
    out["batchnorm"] = {}
    if bn:
        try:
            view = keras.Model(model_inputs(model), [layer.input for layer in bn])
            inputs, _ = view.stateless_call(
                [v.value for v in view.trainable_variables],
                [v.value for v in view.non_trainable_variables], x, training=True)
            inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
            for layer, a in zip(bn, inputs, strict=True):
                out["batchnorm"][layer.name] = _moment_gap(layer, a)
        except (AttributeError, ValueError, TypeError):
            pass
    return out


def gap_rows(gap: dict[str, Any]) -> list[tuple[str, str, float]]:
    """Tidy ``(layer, stat, value)`` rows of :func:`train_inference_gap`'s result.

    Losses and accuracies become ``model`` rows ``probe_loss_training_mode``... and each
    BatchNorm layer gets ``bn_mean_shift`` and ``bn_variance_ratio``.
    """
    rows = [("model", f"probe_{key}", value) for key, value in gap.items()
            if key.startswith(("loss_", "accuracy_"))]
    rows += [("model", key, gap[key]) for key in ("batchnorm_layers", "dropout_layers",
                                                  "optimizer_steps") if key in gap]
    rows += [(layer, f"bn_{key}", value) for layer, stats in gap["batchnorm"].items()
             for key, value in stats.items()]
    return rows
