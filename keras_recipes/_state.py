"""Capture and restore a compiled model's whole training state.

Anything in the library that changes a model for a while (the learning-rate finder, the ε0
probe, diagnostics) takes a :class:`TrainingState` first and restores it in a ``finally``
block, so the model leaves exactly as it came: bit for bit, after success, after a loss that
went to NaN, and after an exception or ``KeyboardInterrupt``.

What is captured:

- every model variable (``model.variables``): trainable weights, non-trainable ones such as
  BatchNormalization moving statistics, and the dropout seed-generator states;
- the metric variables (``model.metrics_variables``);
- on torch, the global random generators (CPU, and every CUDA device's): Keras's torch
  backend draws the masks of an unseeded ``Dropout`` from them, not from a seed-generator
  variable, so a temporary training run would change every later mask;
- the optimizer object, its variables (slots, ``iterations``, the learning-rate variable),
  and its learning-rate object (a variable, a ``LearningRateSchedule`` or a callable),
  and that of every optimizer it wraps (``LossScaleOptimizer``, ``Lookahead``);
- the compiled state the Keras trainers cache on the model between calls: the
  ``optimizer`` attribute, ``train_function``, ``test_function``, ``predict_function``,
  ``stop_training`` and, on JAX, the cached step state.

On several devices the restore is per replica: under a ``tf.distribute`` strategy each
variable is copied component by component and each replica gets its own copy back (a
sync-on-read metric total read whole would be the sum over replicas); under
``keras.distribution`` on JAX a variable is assigned back with its layout.

An optimizer that is not built at capture time is left as it is found at restore time:
Keras offers no way to un-build one. Code that swaps in its own optimizer (as the
learning-rate finder does) never builds the user's.

Private Keras attributes (the optimizer's learning-rate object and variable list, the
trainers' cached step state) are read and written through :mod:`keras_recipes._keras_private`,
the per-replica copies through :mod:`keras_recipes._distribute`; this module only captures
and restores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_recipes import _distribute
from keras_recipes._keras_private import (
    compiled_attributes,
    learning_rate_object,
    optimizer_variable_list,
    restore_compiled_attributes,
    set_learning_rate_object,
    track_optimizer_variable,
)


def _unique(variables) -> list:
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _snapshot(model, variables) -> list[tuple[Any, tuple[np.ndarray, ...]]]:
    # One array per replica under a tf.distribute strategy (see keras_recipes._distribute).
    return [(v, _distribute.snapshot(model, v)) for v in variables]


def _optimizer_chain(optimizer) -> list:
    """``optimizer`` and the optimizers it wraps, outermost first.

    Keras's ``LossScaleOptimizer`` and this library's ``Lookahead`` keep the wrapped
    optimizer in ``inner_optimizer``; its learning rate is the one the step uses.
    """
    chain = []
    while optimizer is not None and all(o is not optimizer for o in chain):
        chain.append(optimizer)
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return chain


def _restore_learning_rate(optimizer, captured) -> None:
    if captured is None or learning_rate_object(optimizer) is captured:
        return
    # The public setter only assigns into the current variable; put the captured object
    # back (a variable is tracked again, as the optimizer did when it created it).
    set_learning_rate_object(optimizer, captured)
    if isinstance(captured, keras.Variable) and all(
            v is not captured for v in optimizer.variables):
        track_optimizer_variable(optimizer, captured)


def _restore_order(optimizer, order: list) -> None:
    current = optimizer_variable_list(optimizer)
    if current is None or [id(v) for v in current] == [id(v) for v in order]:
        return
    if sorted(id(v) for v in current) == sorted(id(v) for v in order):
        # In place (the tracker holds this very list), and without element comparisons:
        # on TensorFlow it is a ListWrapper whose slice assignment compares tensors.
        while len(current):
            current.pop()
        current.extend(order)


def _torch_rng_state():
    """``(cpu, [cuda...])`` generator states on the torch backend, else ``None``."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return torch.get_rng_state(), cuda


def _set_torch_rng_state(state) -> None:
    if state is None:
        return
    import torch

    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda:
        torch.cuda.set_rng_state_all(cuda)


class TrainingState:
    """A snapshot of a model's training state that can be put back bit for bit.

    Use it around any code that trains or edits a model temporarily; prefer the
    :func:`preserved_state` context manager, which restores in a ``finally`` block.

    Args:
        model: a Keras model (compiled or not).
        include_compiled: also capture the compiled state (``optimizer`` attribute,
            ``train_function``...). Defaults to ``True``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes._state import TrainingState
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> state = TrainingState(model)
    >>> _ = model.layers[0].kernel.assign(np.zeros((2, 1)))
    >>> state.restore()
    >>> bool(np.any(model.layers[0].kernel.numpy() != 0))
    True
    """

    def __init__(self, model: keras.Model, *, include_compiled: bool = True):
        self.model = model
        self._variables = _snapshot(
            model, _unique(list(model.variables) + list(model.metrics_variables))
        )
        self._compiled = compiled_attributes(model) if include_compiled else {}
        optimizer = getattr(model, "optimizer", None)
        self._optimizer = optimizer
        self._optimizer_built = bool(getattr(optimizer, "built", False))
        self._optimizer_variables = _snapshot(model, optimizer.variables) if optimizer else []
        chain = _optimizer_chain(optimizer)
        self._learning_rates = [(o, learning_rate_object(o)) for o in chain]
        # The order of each optimizer's variable list: re-tracking a learning-rate variable
        # appends it at the end, and the order is what `.keras` files and checkpoints use.
        self._variable_orders = [(o, list(optimizer_variable_list(o) or [])) for o in chain]
        self._torch_rng = _torch_rng_state()

    @property
    def optimizer(self):
        """The optimizer the model had at capture time (``None`` when uncompiled)."""
        return self._optimizer

    def restore(self) -> None:
        """Put the model, its optimizer and its compiled state back as captured."""
        model = self.model
        restore_compiled_attributes(model, self._compiled)
        optimizer = self._optimizer
        if optimizer is not None:
            for wrapped, captured in self._learning_rates:
                _restore_learning_rate(wrapped, captured)
            for wrapped, order in self._variable_orders:
                _restore_order(wrapped, order)
            for variable, values in self._optimizer_variables:
                _distribute.restore(model, variable, values)
        for variable, values in self._variables:
            _distribute.restore(model, variable, values)
        _set_torch_rng_state(self._torch_rng)

    def __repr__(self) -> str:
        return (
            f"TrainingState(model={self.model.name!r}, variables={len(self._variables)}, "
            f"optimizer_variables={len(self._optimizer_variables)}, "
            f"optimizer_built={self._optimizer_built})"
        )


def capture_state(model: keras.Model, *, include_compiled: bool = True) -> TrainingState:
    """Capture ``model``'s training state; call ``.restore()`` on the result to put it back.

    Args:
        model: a Keras model.
        include_compiled: also capture the compiled state. Defaults to ``True``.

    Returns:
        A :class:`TrainingState`.

    Example:

    >>> import keras
    >>> from keras_recipes._state import capture_state
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> capture_state(model).restore()
    """
    return TrainingState(model, include_compiled=include_compiled)


@contextlib.contextmanager
def preserved_state(
    model: keras.Model, *, include_compiled: bool = True
) -> Iterator[TrainingState]:
    """Context manager: whatever happens inside, ``model`` leaves as it entered.

    The state is restored in a ``finally`` block, so it holds after an exception or a
    ``KeyboardInterrupt`` too (the exception still propagates).

    Args:
        model: a Keras model.
        include_compiled: also restore the compiled state. Defaults to ``True``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes._state import preserved_state
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> with preserved_state(model):
    ...     _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    """
    state = TrainingState(model, include_compiled=include_compiled)
    try:
        yield state
    finally:
        state.restore()
