"""The library's only access to private Keras attributes, and its one patch of Keras.

Keras 3 has no public way to do a few things the library needs: read an optimizer's
learning-rate object without evaluating its schedule, put a captured one back, find a
variable's slots, read a callback's model without a JAX state sync... Each such access is
one small function here, named after what it does and saying which private name it uses
(a leading underscore, or ``keras.src``). ``tests/test_private_keras.py`` checks every one
against the installed Keras, so an upgrade that renames one fails there with the
function's name, and scans the rest of the library for any other private access.

The module also holds :func:`fix_multi_worker_logs_reduction`, which wraps two functions
of Keras's TensorFlow trainer so that ``fit`` works under ``MultiWorkerMirroredStrategy``.

It is a leaf: it imports no other module of the library, so any module may import it
(``_state`` to capture and restore a model, ``_distribute`` for the multi-worker set-up,
the optimizers and callbacks for their base classes' internals).

Example:

>>> import keras
>>> from keras_recipes import _keras_private
>>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
>>> _keras_private.learning_rate_object(keras.optimizers.SGD(schedule)) is schedule
True
"""

from __future__ import annotations

from typing import Any

import keras

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
#: Marks an attribute that was not set on the model at capture time.
ABSENT = object()


def compiled_attributes(model) -> dict[str, Any]:
    """``{name: value}`` of the compiled state cached on ``model`` (``ABSENT`` when unset).

    Besides the public ``optimizer``, ``train_function``, ``test_function``,
    ``predict_function`` and ``stop_training``, the JAX trainer keeps the step state of
    a running ``fit`` in the private ``model._jax_state`` (a dict of variable values, or
    ``None``) and ``model._jax_state_synced`` (a bool). They are read from the instance
    dictionary, so nothing is evaluated or synced. Put back with
    :func:`restore_compiled_attributes`.
    """
    attrs = vars(model)
    return {name: attrs.get(name, ABSENT) for name in _COMPILED_ATTRIBUTES}


def restore_compiled_attributes(model, captured: dict[str, Any]) -> None:
    """Put back what :func:`compiled_attributes` returned; an attribute absent then is removed."""
    for name, value in captured.items():
        if value is ABSENT:
            if name in vars(model):
                delattr(model, name)
        elif vars(model).get(name, ABSENT) is not value:
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

    The backend-neutral implementation of ``BaseOptimizer`` is called, the one TensorFlow and
    JAX optimizers inherit: it reads ``optimizer.learning_rate``, so a wrapper whose property
    forwards to its inner optimizer (``Lookahead``) decays at the inner rate. Keras's torch
    optimizers override it with a fused update that reads ``optimizer._learning_rate``
    directly (the wrapper's own placeholder 0.0).
    """
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    BaseOptimizer._apply_weight_decay(optimizer, variables)


def is_backend_subclass(cls: type) -> bool:
    """Whether ``cls`` is one of Keras's per-backend subclasses (``keras.src.backend.*``).

    On torch, ``keras.optimizers.SGD(...)`` is an instance of Keras's torch subclass of SGD;
    the public class comes after such classes in the MRO.
    """
    return cls.__module__.startswith("keras.src.backend.")


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
