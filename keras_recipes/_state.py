"""Capture and restore a compiled model's whole training state.

Anything in the library that changes a model for a while (the learning-rate finder, the ε0
probe, diagnostics) takes a :class:`TrainingState` first and restores it in a ``finally``
block, so the model leaves exactly as it came: bit for bit, after success, after a loss that
went to NaN, and after an exception or ``KeyboardInterrupt``.

What is captured:

- every model variable (``model.variables``): trainable weights, non-trainable ones such as
  BatchNormalization moving statistics, and the dropout seed-generator states;
- the metric variables (``model.metrics_variables``);
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

This module is also the library's only access to private Keras attributes (names with a
leading underscore, and ``keras.src``): each is read or written by one small function in
the section "private Keras attributes" below (the TensorFlow trainer's internals by
:func:`fix_multi_worker_logs_reduction`), and ``tests/test_private_keras.py`` checks
every one of them against the installed Keras, so an upgrade that renames one fails there
with the function's name. The rest of the library calls these functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_recipes import _distribute

# Attributes the Keras 3 trainers cache on the model between calls. Only those present on
# the model at capture time are restored; one absent then is removed again. The last two
# are private (see :func:`compiled_attributes`).
_COMPILED_ATTRIBUTES = (
    "optimizer",
    "train_function",
    "test_function",
    "predict_function",
    "stop_training",
    "_jax_state",
    "_jax_state_synced",
)
_ABSENT = object()


# ----------------------------------------------------------------- private Keras attributes
# One function per private attribute, each checked by tests/test_private_keras.py.


def compiled_attributes(model) -> dict[str, Any]:
    """``{name: value}`` of the compiled state cached on ``model`` (``_ABSENT`` when unset).

    Besides the public ``optimizer``, ``train_function``, ``test_function``,
    ``predict_function`` and ``stop_training``, the JAX trainer keeps the step state of
    a running ``fit`` in the private ``model._jax_state`` (a dict of variable values, or
    ``None``) and ``model._jax_state_synced`` (a bool). They are read from the instance
    dictionary, so nothing is evaluated or synced. Put back with
    :func:`restore_compiled_attributes`.
    """
    attrs = vars(model)
    return {name: attrs.get(name, _ABSENT) for name in _COMPILED_ATTRIBUTES}


def restore_compiled_attributes(model, captured: dict[str, Any]) -> None:
    """Put back what :func:`compiled_attributes` returned; an attribute absent then is removed."""
    for name, value in captured.items():
        if value is _ABSENT:
            if name in vars(model):
                delattr(model, name)
        elif vars(model).get(name, _ABSENT) is not value:
            setattr(model, name, value)


def learning_rate_object(optimizer) -> Any:
    """The object behind ``optimizer.learning_rate``: a variable, a schedule or a callable.

    Keras has no public getter for it (``optimizer.learning_rate`` evaluates a schedule);
    the private ``optimizer._learning_rate`` has held it throughout Keras 3. ``None`` for an
    object without one.
    """
    return getattr(optimizer, "_learning_rate", None)


def set_learning_rate_object(optimizer, value) -> None:
    """Make ``value`` (a variable, a schedule or a callable) the optimizer's learning rate.

    The public setter assigns a number *into* the current variable and refuses a number
    when a schedule is set; restoring a captured state needs the captured object itself
    back, which only the private ``optimizer._learning_rate`` allows. A wrapper's public
    setter would forward to the optimizer it wraps; this sets the wrapper's own. A variable
    put back this way must also be tracked: see :func:`track_optimizer_variable`.
    """
    optimizer._learning_rate = value


def track_optimizer_variable(optimizer, variable) -> None:
    """Add ``variable`` to ``optimizer.variables`` (appended), as Keras does for its own.

    Keras's private ``optimizer._track_variable``: the tracked list is what
    ``optimizer.variables``, ``.keras`` files and checkpoints use.
    """
    optimizer._track_variable(variable)


def optimizer_variable_list(optimizer) -> list | None:
    """The live list behind ``optimizer.variables`` (a copy of it is what the public property
    returns); mutate it in place only. Keras's private ``optimizer._variables``; ``None`` for
    an object without one.
    """
    return getattr(optimizer, "_variables", None)


def iteration_counter(optimizer):
    """The optimizer's own step-counter variable, one increment per ``apply`` call.

    ``optimizer.iterations`` is the same variable, except with ``gradient_accumulation_steps``
    (then it is the counter divided by the steps) and in a wrapper that reports the wrapped
    optimizer's count. Keras's private ``optimizer._iterations``.
    """
    return optimizer._iterations


def variable_index(optimizer, variable) -> int:
    """Position of ``variable`` in the list the optimizer was built with: the index of its
    slots in lists made by ``add_optimizer_variables``. Keras's private
    ``optimizer._get_variable_index``, which its own optimizers use in ``update_step`` (on
    TensorFlow it also maps a distributed variable to its key).
    """
    return optimizer._get_variable_index(variable)


def built_variables(optimizer) -> list:
    """The variables the optimizer was built with, in order (Keras's private
    ``optimizer._trainable_variables``); what ``apply`` updates when given no variables.
    """
    return optimizer._trainable_variables


def gradient_accumulators(optimizer) -> list:
    """One accumulator variable per built variable, when the optimizer was created with
    ``gradient_accumulation_steps`` (Keras's private ``optimizer._accumulated_gradients``).
    """
    return optimizer._accumulated_gradients


def ema_averages(optimizer) -> list:
    """One moving-average variable per built variable, when the optimizer was created with
    ``use_ema=True`` (Keras's private ``optimizer._model_variables_moving_average``).
    """
    return optimizer._model_variables_moving_average


def clip_gradients(optimizer, grads: list) -> list:
    """``grads`` clipped by the optimizer's ``clipnorm``, ``global_clipnorm`` or ``clipvalue``
    (unchanged when none is set), as Keras's ``apply`` clips them: the private
    ``optimizer._clip_gradients``.
    """
    return optimizer._clip_gradients(grads)


def apply_weight_decay(optimizer, variables: list) -> None:
    """Decay ``variables`` in place, ``v -= v · weight_decay · learning_rate`` (skipping those
    excluded from weight decay), as Keras's ``apply`` does: the private
    ``optimizer._apply_weight_decay``. Nothing happens when ``weight_decay`` is ``None``.
    """
    optimizer._apply_weight_decay(variables)


def callback_model(callback):
    """The model ``callback`` is attached to, or ``None``, without syncing any state.

    The public ``callback.model`` property, on JAX, first copies the running ``fit``'s step
    state into the model's variables (``jax_state_sync``): right at an epoch end, wasted
    work mid-epoch, and unsafe in a signal handler. Keras's private ``callback._model``
    holds the model itself.
    """
    return getattr(callback, "_model", None)


def metric_direction(metric) -> str | None:
    """``"up"`` when higher values of ``metric`` are better, ``"down"`` when lower ones are,
    ``None`` when the metric does not say. Keras's private ``metric._direction``, set by its
    accuracy, AUC, precision/recall... metrics and read by its own ``MonitorCallback``.
    """
    return getattr(metric, "_direction", None)


# ------------------------------------------------------------------------- training state


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


def fix_multi_worker_logs_reduction() -> bool:
    """Let Keras's TensorFlow ``fit``/``evaluate`` reduce scalar logs over several workers.

    Keras 3's TensorFlow trainer reduces each step's logs with
    ``strategy.reduce("MEAN", value, axis=0)`` under ``MultiWorkerMirroredStrategy``; the
    logs (loss, metric results) are scalars, so every ``fit`` there fails with "Invalid
    reduction dimension 0 for input with 0 dimensions" (tensorflow/tensorflow#72388).
    This wraps the trainer's private ``reduce_per_replica`` so that, in multi-worker mode
    only, a scalar is averaged over the replicas (``axis=None``) and anything else goes
    to Keras's own code; and ``_maybe_symbolic_build``, whose cross-worker average of
    the first batch fails the same way, so that it builds on this worker's share.
    Called by ``_distribute.setup("multiworker")``; idempotent.
    Returns whether the wrapper is in place.

    Private Keras names used: the module ``keras.src.backend.tensorflow.trainer``, its
    ``reduce_per_replica``, ``_collective_all_reduce_multi_worker`` and
    ``TensorFlowTrainer._maybe_symbolic_build``, and the model's ``_distribute_strategy``
    (set only for a model built in a strategy's scope).
    """
    if keras.backend.backend() != "tensorflow":
        return False
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "_keras_recipes_fixed", False):
        return True

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not trainer._collective_all_reduce_multi_worker(
                strategy):
            return original(values, strategy, reduction)

        def one(value):
            shape = getattr(strategy.experimental_local_results(value)[0], "shape", None)
            if shape is not None and shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return keras.tree.map_structure(one, values)

    reduce_per_replica._keras_recipes_fixed = True
    trainer.reduce_per_replica = reduce_per_replica

    # Before its first step, `fit` builds the model on one batch, which it first averages
    # with `strategy.reduce` over the replicas; a worker's local batch cannot go through
    # a cross-worker reduction, so that fails too. Only shapes matter there: in
    # multi-worker mode the build takes this worker's first share.
    import tensorflow as tf

    cls = trainer.TensorFlowTrainer
    original_build = cls._maybe_symbolic_build

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        found = self._distribute_strategy  # set only for a model built in a strategy's scope
        if (iterator is not None and found is not None
                and trainer._collective_all_reduce_multi_worker(found)):
            for _, _, it in iterator:
                batch = next(it)
                break
            else:
                batch = None
            data_batch = keras.tree.map_structure(
                lambda v: found.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v, batch)
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    cls._maybe_symbolic_build = _maybe_symbolic_build
    return True
