"""One-off facts about a model: its structure, and the scope its helpers are built in."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import keras
import numpy as np


def model_structure(model) -> dict[str, Any]:
    """Layers (name, class, output shape, parameter counts), totals and summary text."""
    layers = []
    for layer in model.layers:
        trainable = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        frozen = int(sum(np.prod(w.shape) for w in layer.non_trainable_weights))
        try:
            shape = list(layer.output.shape)
        except (AttributeError, ValueError, RuntimeError):
            shape = None
        layers.append({"name": layer.name, "class": type(layer).__name__,
                       "output_shape": shape, "trainable_params": trainable,
                       "non_trainable_params": frozen})
    text = io.StringIO()
    try:
        model.summary(print_fn=lambda line, *a, **k: text.write(line + "\n"))
    except (TypeError, ValueError):
        pass
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"model_name": model.name, "layers": layers, "trainable_params": trainable,
            "non_trainable_params": frozen, "total_params": trainable + frozen,
            "structure": text.getvalue(),
            "normalisation_layer": normalisation_layer(model)}


#: Layers that put raw inputs on a unit scale inside the model.
NORMALISING_LAYERS = ("Normalization", "Rescaling", "MinMaxNormalization")


def normalisation_layer(model) -> str | None:
    """Name of the layer that normalises the raw inputs first, if the model has one.

    The first layer after the inputs must be a ``keras.layers.Normalization`` or
    ``Rescaling``, or ``keras_recipes.layers.MinMaxNormalization``: then the inputs the model
    is fed need not be on a unit scale.
    """
    first = [layer for layer in model.layers
             if not isinstance(layer, keras.layers.InputLayer)][:1]
    if first and type(first[0]).__name__ in NORMALISING_LAYERS:
        return first[0].name
    return None


def distribution_scope(model):
    """The model's ``tf.distribute`` strategy scope, else a context that does nothing.

    Variables and functions the diagnostics create for a model (probe view, weight
    snapshots) are created in it, as the model's own were.
    """
    strategy = getattr(model, "distribute_strategy", None)
    scope = getattr(strategy, "scope", None)
    return scope() if scope is not None else contextlib.nullcontext()


def examples_seen(model) -> float | None:
    """Examples the loss tracker counted since the epoch began (``None`` if unknown).

    Keras's compiled loss tracker is a ``Mean`` metric named ``"loss"`` whose ``count``
    grows by the batch size at each step. On JAX, ``fit`` keeps the metric state outside the
    model during an epoch; ``model.jax_state_sync()`` puts it back first.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    for metric in getattr(model, "metrics", []):
        count = getattr(metric, "count", None)
        if metric.name == "loss" and count is not None:
            return float(keras.ops.convert_to_numpy(count))
    return None


def optimizer_values(optimizer) -> list[tuple[str, float]]:
    """The learning rate and every numeric hyperparameter of the optimizer's config."""
    values = [("learning_rate", float(keras.ops.convert_to_numpy(optimizer.learning_rate)))]
    try:
        config = optimizer.get_config()
    except (NotImplementedError, TypeError, ValueError):
        config = {}
    for key, value in sorted(config.items()):
        if key != "learning_rate" and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            values.append((key, value))
    return values
