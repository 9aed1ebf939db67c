"""How much state an optimizer keeps per model parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping

import keras
import numpy as np
import pandas as pd

from keras_recipes.optimizers._checks import optimizer_mapping


def _clone(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))


def _slot_name(variable, model_paths: list[str]) -> str:
    name = variable.name
    for path in model_paths:
        prefix = path.replace("/", "_") + "_"
        if name.startswith(prefix):
            return name[len(prefix):]
    return re.sub(r"^.*_", "", name)


def _one(label: str, optimizer: keras.optimizers.Optimizer, model: keras.Model) -> dict:
    params = list(model.trainable_variables)
    if not params:
        raise ValueError(
            "Argument `model` must have trainable variables (build it first). "
            f"Received: model={model.name!r}"
        )
    n_params = int(sum(np.prod(p.shape) for p in params))
    opt = _clone(optimizer)
    opt.build(params)
    paths = sorted({p.path for p in params}, key=len, reverse=True)
    elements: dict[str, int] = {}
    scalars = 0
    for variable in opt.variables:
        size = int(np.prod(variable.shape)) if variable.shape else 1
        if len(variable.shape) == 0:
            scalars += 1
            continue
        slot = _slot_name(variable, paths)
        elements[slot] = elements.get(slot, 0) + size
    state = sum(elements.values())
    per_param = state / n_params
    memory = 1 + per_param
    return {
        "optimizer": label,
        "class": type(optimizer).__name__,
        "parameters": n_params,
        "slots": ", ".join(sorted(elements)),
        "state_elements": state,
        "state_per_parameter": per_param,
        "memory": f"{memory:g}D" if memory != 1 else "D",
        "scalar_variables": scalars,
    }


def state_size(
    optimizer: keras.optimizers.Optimizer | Mapping[str, keras.optimizers.Optimizer],
    model: keras.Model,
) -> pd.DataFrame:
    """Count the state an optimizer allocates for a model, per parameter.

    Use it to compare the memory cost of optimizers before training a large model, and to
    check the course notes' memory table (SGD D, momentum 2D, Adam 3D, ...). The optimizer
    is copied through its config and built on `model.trainable_variables`, so the one you
    pass is left untouched; what is reported is what Keras really allocates.

    With `D` the number of trainable parameters, `memory = D + state_elements` expressed in
    units of D (`1 + state_per_parameter`). Scalar variables (iteration counter, learning
    rate) are counted apart in `scalar_variables`. Keras allocates no momentum slot when
    `momentum=0`, so `SGD` is `D` and `SGD(momentum=0.9)` is `2D`; `RMSprop(momentum=0.9)`
    is `3D`; Keras's `Adagrad` keeps one accumulator (`2D`); `use_ema=True` adds one slot
    ("average"), `gradient_accumulation_steps` another.

    Args:
        optimizer: an optimizer, or a mapping `{label: optimizer}` for one row each.
        model: a built model whose trainable variables the optimizer would update.

    Returns:
        A DataFrame with one row per optimizer and the columns `optimizer`, `class`,
        `parameters`, `slots`, `state_elements`, `state_per_parameter`, `memory`
        (e.g. "3D") and `scalar_variables`.

    Example:

    >>> import keras
    >>> from keras_recipes.optimizers import state_size
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> df = state_size({"sgd": keras.optimizers.SGD(), "adam": keras.optimizers.Adam()}, model)
    >>> df["memory"].tolist()
    ['D', '3D']

    References:
        - PyTorch optimizer documentation (state per algorithm),
          https://pytorch.org/docs/stable/optim.html
    """
    items = optimizer_mapping("optimizer", optimizer)
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    return pd.DataFrame([_one(label, opt, model) for label, opt in items.items()])
