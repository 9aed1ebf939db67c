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
        entry = {"name": layer.name, "class": type(layer).__name__,
                 "output_shape": shape, "trainable_params": trainable,
                 "non_trainable_params": frozen}
        activation = activation_name(layer)
        if activation is not None:
            entry["activation"] = activation
        layers.append(entry)
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
            "normalisation_layer": normalisation_layer(model),
            "output_activation": output_activation(model),
            "loss_from_logits": loss_from_logits(getattr(model, "loss", None))}


#: Layer classes that are an activation function by themselves, with its name.
_ACTIVATION_CLASSES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu",
                       "PReLU": "prelu", "Softmax": "softmax",
                       "ThresholdedReLU": "thresholded_relu"}


def activation_name(layer) -> str | None:
    """The non-linearity a layer applies last (``"relu"``, ``"softmax"``, ``"linear"``...).

    ``None`` for layers without one (pooling, normalisation, reshaping).
    """
    cls = type(layer).__name__
    if cls in _ACTIVATION_CLASSES:
        return _ACTIVATION_CLASSES[cls]
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return str(name).lower()


def output_activation(model) -> str | None:
    """The activation of the layer that produces the model's (first) output.

    ``"linear"`` for a plain ``Dense``; ``None`` when the output layer cannot be found (a
    subclassed model) or applies no activation of its own (a pooling layer, say).
    """
    try:
        target = id(keras.tree.flatten(model.outputs)[0])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    for layer in reversed(model.layers):
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue
        if not isinstance(out, (list, tuple, dict)) and id(out) == target:
            return activation_name(layer)
    return None


def loss_from_logits(loss) -> bool | None:
    """The compiled loss's ``from_logits`` flag (``False`` for a loss named by a string).

    ``None`` when the loss is unknown, several losses, or has no such flag.
    """
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None
    if isinstance(loss, str):
        return False if "crossentropy" in loss.lower() else None
    try:
        config = loss.get_config()
    except (AttributeError, NotImplementedError, TypeError, ValueError):
        return None
    value = config.get("from_logits") if isinstance(config, dict) else None
    return bool(value) if value is not None else None


#: Layers that put raw inputs on a unit scale inside the model.
NORMALISING_LAYERS = ("Normalization", "Rescaling", "MinMaxNormalization",
                      "BatchNormalization", "LayerNormalization")
#: Layers that only move the inputs around: a normalising layer after them still sees the
#: raw inputs.
_RESHAPING_LAYERS = ("InputLayer", "Flatten", "Reshape", "Permute", "Dropout",
                     "GaussianNoise", "Cropping1D", "Cropping2D", "ZeroPadding1D",
                     "ZeroPadding2D")


def normalisation_layer(model) -> str | None:
    """Name of the layer that normalises the raw inputs first, if the model has one.

    The first layer after the inputs (reshaping layers such as ``Flatten`` or ``Dropout``
    aside) must be a ``keras.layers.Normalization``, ``Rescaling``, ``BatchNormalization``
    or ``LayerNormalization``, or ``keras_recipes.layers.MinMaxNormalization``: then the
    first weighted layer sees normalised values, whatever the scale of the inputs the model
    is fed.
    """
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in _RESHAPING_LAYERS:
            continue
        return layer.name if cls in NORMALISING_LAYERS else None
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
