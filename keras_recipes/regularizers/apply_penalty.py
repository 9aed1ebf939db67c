"""Add a weight penalty to every kernel of a model that is already built."""

from __future__ import annotations

import warnings

import keras

#: (weight attribute, regularizer attribute) pairs of the Keras layers that hold kernels.
KERNEL_ATTRIBUTES = (
    ("kernel", "kernel_regularizer"),
    ("depthwise_kernel", "depthwise_regularizer"),
    ("pointwise_kernel", "pointwise_regularizer"),
)
_KERNEL_NAMES = tuple(name for name, _ in KERNEL_ATTRIBUTES)
# The compiled train/test/predict functions Keras caches on a model: they were traced
# with the losses the model had then, so they are dropped and traced again.
_CACHED_FUNCTIONS = ("train_function", "test_function", "predict_function")


def _serialised_by_config(layer) -> bool:
    """Whether ``layer``'s sub-layers are rebuilt from their own configs when it loads."""
    return isinstance(layer, keras.Sequential) or type(layer).__name__ == "Functional"


def _walk(layer, in_config: bool, seen: set):
    """Yield ``(layer, in_config)`` for ``layer`` and every layer nested in it."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer, in_config
    if isinstance(layer, keras.Model) and _serialised_by_config(layer):
        for child in layer.layers:
            yield from _walk(child, in_config, seen)
        return
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        children = value if isinstance(value, (list, tuple)) else [value]
        for child in children:
            if isinstance(child, keras.layers.Layer):
                yield from _walk(child, False, seen)
    if isinstance(layer, keras.Model):
        for child in layer.layers:
            yield from _walk(child, False, seen)


def apply_penalty(
    model: keras.Model,
    penalty: keras.regularizers.Regularizer | str | dict,
    *,
    overwrite: bool = False,
) -> list[str]:
    """Add ``penalty`` to every kernel of a built model, so that training minimises it.

    Use it to regularise a model you did not build yourself (a baseline, a pretrained
    network) with seed 002's ``L2(lam, n)`` or ``L1(lam, n)``, or any Keras regularizer.
    Keras reads ``kernel_regularizer`` only when a layer creates its kernel, so setting the
    attribute on a built layer does nothing by itself; this function attaches the penalty to
    the kernel variables (``Variable.regularizer``, what ``model.losses`` reads at every step)
    and to the layers' ``*_regularizer`` attributes (what ``model.save`` writes). Cached
    compiled train/test/predict functions are dropped, so the next ``fit`` traces the loss
    again with the penalty in it: a compiled model does not need to be compiled again.

    Kernels are ``kernel`` (Dense, Conv*, EinsumDense...), ``depthwise_kernel`` and
    ``pointwise_kernel`` (separable and depthwise convolutions). Biases, BatchNormalization's
    γ/β and embeddings are left alone, as in the notes (the penalty is on the weight matrices
    ``Wₛ``). A kernel held inside a custom layer whose config does not carry a regularizer
    (``DenseBlock``...) is penalised in training, but the penalty is not saved with the
    model: a ``UserWarning`` names those kernels.

    Args:
        model: a built ``keras.Model`` (or layer).
        penalty: a ``keras.regularizers.Regularizer`` such as
            :class:`keras_recipes.regularizers.L2`, or what ``keras.regularizers.get``
            accepts (``"l2"``, a config dict).
        overwrite: replace a regularizer already on a kernel; otherwise such a kernel
            raises ``ValueError`` before anything is changed. Defaults to ``False``.

    Returns:
        The paths of the penalised kernel variables, in model order.

    Formula: the training loss becomes ``(1/N)·Σᵢ L(yᵢ, ŷᵢ) + Σₛ penalty(Wₛ)``; with
    ``L2(λ, N)``, ``(λ/N)·Σₛ ‖Wₛ‖²_F`` (seed 002).

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.regularizers import L2, apply_penalty
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d"),
    ...                           keras.layers.Dense(1, name="out")], name="net")
    >>> apply_penalty(model, L2(lam=0.1, n=32))
    ['net/d/kernel', 'net/out/kernel']
    >>> expected = 0.1 / 32 * sum(float(np.sum(w ** 2)) for w in
    ...                           (model.layers[0].kernel.numpy(), model.layers[1].kernel.numpy()))
    >>> bool(np.isclose(float(sum(model.losses)), expected))
    True

    References:
        Krogh & Hertz (1991), A Simple Weight Decay Can Improve Generalization,
        https://papers.nips.cc/paper/563-a-simple-weight-decay-can-improve-generalization
    """
    if not isinstance(model, keras.layers.Layer):
        raise ValueError("Argument `model` must be a keras.Model or layer. "
                         f"Received: model of type {type(model).__name__}")
    if not model.built:
        raise ValueError(
            "Argument `model` must be built (its kernels must exist): call it on data, use "
            "keras.Input, or pass `kernel_regularizer=` when building the layers instead. "
            f"Received: unbuilt model {model.name!r}"
        )
    try:
        regularizer = keras.regularizers.get(penalty)
    except (ValueError, TypeError) as exc:
        raise ValueError("Argument `penalty` must be a keras.regularizers.Regularizer, its "
                         f"name or its config. Received: penalty={penalty!r}") from exc
    if regularizer is None:
        raise ValueError(f"Argument `penalty` must not be None. Received: penalty={penalty!r}")
    if not isinstance(overwrite, bool):
        raise ValueError(f"Argument `overwrite` must be a bool. Received: overwrite={overwrite!r}")

    # Collect first: nothing changes when a kernel already holds a regularizer.
    targets: list[tuple] = []  # (variable, layer or None, regularizer attribute, in_config)
    seen_vars: set = set()
    for layer, in_config in _walk(model, True, set()):
        for weight_name, reg_name in KERNEL_ATTRIBUTES:
            variable = getattr(layer, weight_name, None)
            if (not isinstance(variable, keras.Variable) or not variable.trainable
                    or id(variable) in seen_vars or not hasattr(layer, reg_name)):
                continue
            seen_vars.add(id(variable))
            targets.append((variable, layer, reg_name, in_config))
    for variable in model.trainable_variables:  # kernels the walk could not reach
        if variable.name in _KERNEL_NAMES and id(variable) not in seen_vars:
            seen_vars.add(id(variable))
            targets.append((variable, None, None, False))
    taken = [v.path for v, *_ in targets if v.regularizer is not None]
    if taken and not overwrite:
        raise ValueError(
            "Some kernels already have a regularizer; pass overwrite=True to replace it. "
            f"Received: kernels with a regularizer {taken}"
        )

    not_saved = []
    for variable, layer, reg_name, in_config in targets:
        variable.regularizer = regularizer
        if layer is not None:
            setattr(layer, reg_name, regularizer)
        if not in_config:
            not_saved.append(variable.path)
    for name in _CACHED_FUNCTIONS:
        if getattr(model, name, None) is not None:
            setattr(model, name, None)
    if not_saved:
        warnings.warn(
            f"The penalty acts in training on {not_saved}, but these kernels sit inside "
            "layers whose config does not carry a regularizer: it is not saved with the "
            "model. Build those layers with the regularizer to save it.",
            UserWarning,
            stacklevel=2,
        )
    return [v.path for v, *_ in targets]
