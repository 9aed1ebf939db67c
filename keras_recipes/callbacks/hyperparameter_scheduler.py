"""Schedule optimizer hyperparameters (momentum, beta_1, weight_decay, ...) by step."""

from __future__ import annotations

import contextlib
import numbers
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_recipes import _keras_private
from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, fail
from keras_recipes.optimizers import NesterovRMSprop, RAdam, Yogi

_ADAM_FAMILY = ("beta_1", "beta_2", "epsilon", "weight_decay")
#: The optimizers whose hyperparameters :class:`HyperparameterScheduler` schedules, and
#: which ones. Each listed attribute is read by the optimizer's update (on TensorFlow, JAX
#: and torch, whose Keras optimizers have their own update code) only through ``keras.ops``
#: or arithmetic, so a variable in its place is read inside the compiled step; the tests
#: check every entry on the three backends. Left out on purpose: ``initial_accumulator_value``
#: (read once, when the slots are created), RAdam's ``beta_1``/``beta_2`` (read with
#: ``math.log`` when the step is built), Ftrl, Lamb, Lookahead and ``LossScaleOptimizer``
#: (untested wrappers). ``weight_decay`` is read by the base optimizer for all of them.
#: Matched on the class itself (or Keras's backend subclass of it): a subclass of one of
#: them may read its hyperparameters differently and is refused. A custom
#: optimizer opts in with a class attribute ``schedulable_hyperparameters = ("rho", ...)``.
SCHEDULABLE_HYPERPARAMETERS: dict[type, tuple[str, ...]] = {
    keras.optimizers.SGD: ("momentum", "weight_decay"),
    keras.optimizers.RMSprop: ("epsilon", "momentum", "rho", "weight_decay"),
    keras.optimizers.Adam: _ADAM_FAMILY,
    keras.optimizers.AdamW: _ADAM_FAMILY,
    keras.optimizers.Adamax: _ADAM_FAMILY,
    keras.optimizers.Nadam: _ADAM_FAMILY,
    keras.optimizers.Lion: ("beta_1", "beta_2", "weight_decay"),
    keras.optimizers.Adadelta: ("epsilon", "rho", "weight_decay"),
    keras.optimizers.Adagrad: ("epsilon", "weight_decay"),
    Yogi: _ADAM_FAMILY,
    NesterovRMSprop: ("epsilon", "momentum", "rho", "weight_decay"),
    RAdam: ("epsilon", "weight_decay"),
}
# Hyperparameters whose value when the optimizer is created decides whether it keeps a
# state slot at all (``momentum=0``: no momentum buffer); the created value must be > 0.
_NEEDS_SLOT = frozenset({"momentum"})
# Valid values of the common hyperparameters: (low, high, high inclusive). A value outside
# them is refused (a number when the callback is created, a schedule's value at the first
# step when training begins). Other names only need finite values (Ftrl's
# `learning_rate_power`, for one, is negative).
_RANGES = {
    "momentum": (0.0, 1.0, True),
    "beta_1": (0.0, 1.0, False),
    "beta_2": (0.0, 1.0, False),
    "rho": (0.0, 1.0, True),
    "slow_step_size": (0.0, 1.0, True),
    "epsilon": (0.0, None, True),
    "weight_decay": (0.0, None, True),
    "initial_accumulator_value": (0.0, None, True),
    "l1_regularization_strength": (0.0, None, True),
    "l2_regularization_strength": (0.0, None, True),
    "l2_shrinkage_regularization_strength": (0.0, None, True),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_value(name: str, value: float, argument: str) -> None:
    """Raise ``ValueError`` when ``value`` is not finite or outside ``name``'s valid range."""
    low, high, high_inclusive = _RANGES.get(name, (None, None, True))
    check_number(argument, value, low=low, high=high, high_inclusive=high_inclusive)


def _declared(optimizer_class: type) -> tuple[str, ...] | None:
    """The names a class supports: from the table, else its own declaration, else None.

    On torch, Keras instantiates its own backend subclass of each optimizer (the class in
    ``keras.optimizers`` is the first listed class after Keras's backend ones in the MRO).
    """
    for cls in optimizer_class.__mro__:
        if cls in SCHEDULABLE_HYPERPARAMETERS:
            return SCHEDULABLE_HYPERPARAMETERS[cls]
        if not _keras_private.is_backend_subclass(cls):
            break
    declared = vars(optimizer_class).get("schedulable_hyperparameters")
    if isinstance(declared, tuple | list) and all(isinstance(n, str) for n in declared):
        return tuple(declared)
    return None


def schedulable_hyperparameters(optimizer: keras.optimizers.Optimizer) -> list[str]:
    """Names of ``optimizer``'s hyperparameters that :class:`HyperparameterScheduler` accepts.

    They come from :data:`SCHEDULABLE_HYPERPARAMETERS` (for Adam: ``beta_1``, ``beta_2``,
    ``epsilon``, ``weight_decay``), or from the class attribute
    ``schedulable_hyperparameters`` of a custom optimizer; an empty list for any other
    optimizer. The learning rate is scheduled by passing a schedule as ``learning_rate``.
    """
    return sorted(_declared(type(optimizer)) or ())


def scheduled_hyperparameters(optimizer: keras.optimizers.Optimizer) -> dict[str, Callable]:
    """``{name: schedule}`` scheduled on ``optimizer`` by a running ``fit`` (else empty)."""
    return {name: value.schedule for name, value in _installed(optimizer).items()
            if value.guard.active()}


def current_value(schedule, optimizer: keras.optimizers.Optimizer) -> float:
    """Value of ``schedule`` at the optimizer's current step, as a Python float."""
    if _is_number(schedule):
        return float(schedule)
    value = schedule(optimizer.iterations)
    return float(np.asarray(ops.convert_to_numpy(value)).reshape(()))


class _FitGuard:
    """True while the ``fit`` that installed the schedules runs; read when a step is traced.

    ``fit`` gives the model a new ``History`` before ``on_train_begin``, so a later ``fit``
    (with or without a scheduler) is a different ``model.history``. The owner closes the
    guard in ``on_train_end``, :meth:`HyperparameterScheduler.restore` or ``restoring()``.
    """

    __slots__ = ("_model", "_history", "_open")

    def __init__(self, model):
        self._model = weakref.ref(model)
        history = getattr(model, "history", None)
        self._history = None if history is None else weakref.ref(history)
        self._open = True

    def close(self) -> None:
        self._open = False

    def active(self) -> bool:
        model = self._model() if self._open else None
        if model is None:
            return False
        return self._history is None or getattr(model, "history", None) is self._history()


class _ScheduledHyperparameter(keras.Variable):
    """A scalar Keras variable that reads ``schedule(optimizer.iterations)``.

    It takes the place of an optimizer's float attribute during a ``fit``. Its value is
    computed from the iteration counter wherever it is read: inside the compiled train
    step, the optimizer's ``ops.cast(self.beta_1, ...)``, ``1 - self.beta_1`` or
    ``self.momentum * m`` go through Keras's own variable conversions on each backend and
    read the schedule at the current step; the counter is the only state, so nothing needs
    saving and resuming from a checkpoint of ``iterations`` gives the same values. It is not
    added to ``optimizer.variables``, so checkpoints and ``.weights.h5`` files keep the
    optimizer's own layout.

    Python-level comparisons (``if self.momentum != 0`` in SGD, ``if self.momentum > 0`` in
    RMSprop), which choose the optimizer's code path and slots when the step is built, see
    ``nominal``: the value the optimizer was created with, as for a plain float. Once the
    ``fit`` that installed it is over (``guard``), it reads ``nominal``.
    """

    def __init__(self, schedule, optimizer, nominal, guard: _FitGuard, name: str):
        super().__init__(initializer=float(nominal or 0.0), shape=(), dtype="float32",
                         trainable=False, name=f"scheduled_{name}")
        self.schedule, self.nominal, self.guard = schedule, nominal, guard
        self._optimizer = weakref.ref(optimizer)

    @property
    def value(self):
        optimizer = self._optimizer()
        if optimizer is None or not self.guard.active():
            return ops.convert_to_tensor(float(self.nominal or 0.0), dtype=self.dtype)
        if _is_number(self.schedule):
            return ops.convert_to_tensor(float(self.schedule), dtype=self.dtype)
        return ops.cast(self.schedule(optimizer.iterations), self.dtype)

    def __eq__(self, other):
        return self.nominal == other

    def __ne__(self, other):
        return self.nominal != other

    def __lt__(self, other):
        return self.nominal < other

    def __le__(self, other):
        return self.nominal <= other

    def __gt__(self, other):
        return self.nominal > other

    def __ge__(self, other):
        return self.nominal >= other

    __hash__ = object.__hash__


def _installed(optimizer) -> dict[str, _ScheduledHyperparameter]:
    return {name: value for name, value in vars(optimizer).items()
            if isinstance(value, _ScheduledHyperparameter)}


def _install(optimizer, schedules: Mapping[str, Any], guard: _FitGuard) -> None:
    for name, schedule in schedules.items():
        value = _ScheduledHyperparameter(schedule, optimizer, getattr(optimizer, name), guard,
                                         name)
        # Plain attribute assignment would add the variable to `optimizer.variables` (the
        # optimizer tracks every variable set on it); it holds no state of its own.
        object.__setattr__(optimizer, name, value)


def _uninstall(optimizer) -> bool:
    """Put back the optimizer's own hyperparameter values; True when any were scheduled."""
    installed = _installed(optimizer)
    for name, value in installed.items():
        value.guard.close()
        object.__setattr__(optimizer, name, value.nominal)
    return bool(installed)


def _refuse_whole_model_checkpoints(scheduler) -> None:
    """Refuse a ``ModelCheckpoint`` that saves the whole model during this ``fit``.

    While the schedule runs, the optimizer's scheduled hyperparameters are variables, so a
    ``.keras`` file written mid-``fit`` holds tensors where the optimizer's configuration
    expects floats and does not load back. Weights-only checkpoints are unaffected.
    """
    from keras_recipes.callbacks import _guard

    for callback in _guard.fit_callbacks(scheduler, mark=False):
        if isinstance(callback, keras.callbacks.ModelCheckpoint) and not getattr(
                callback, "save_weights_only", True):
            raise ValueError(
                "HyperparameterScheduler cannot run beside a ModelCheckpoint that saves the "
                "whole model: its scheduled hyperparameters are variables during fit, and a "
                ".keras file written then does not load back. Pass "
                "`save_weights_only=True` to ModelCheckpoint (with a '.weights.h5' path), or "
                "save the model after fit. Received: ModelCheckpoint(filepath="
                f"{getattr(callback, 'filepath', None)!r}, save_weights_only=False)")


@keras_recipes_export
class HyperparameterScheduler(keras.callbacks.Callback):
    """Schedule optimizer hyperparameters other than the learning rate, inside the train step.

    Use it for the one-cycle momentum (0.95 → 0.85 → 0.95), a ``beta_1`` cycle for Adam,
    or a weight-decay schedule such as the seeds' training schedule (1e-4 → 5e-4 → 1e-5
    → 5e-5).

    Keras optimizers keep hyperparameters such as ``momentum`` as Python floats, which the
    compiled train step freezes as constants. When training begins, this callback puts in
    each scheduled attribute a scalar ``keras.Variable`` whose value is
    ``schedule(optimizer.iterations)``, as optax's ``inject_hyperparams`` keeps them in the
    optimizer state: the compiled step reads it, the value changes every step with no
    retracing and no Python work per batch, and since the iteration counter is its only
    state, training resumed with ``BackupAndRestore`` follows the same trajectory. The
    optimizer's code is not changed; Python-level tests in it (``if momentum != 0``) see
    the value it was created with, so create SGD with ``momentum > 0`` to schedule
    momentum. The step function is rebuilt when training begins and when it ends, and the
    floats come back at the end of the ``fit``.

    Supported optimizers and hyperparameters (:data:`SCHEDULABLE_HYPERPARAMETERS`; a custom
    optimizer that reads its hyperparameters through ``keras.ops`` or arithmetic only opts
    in with a class attribute ``schedulable_hyperparameters = ("rho", ...)``):

    | optimizer | schedulable |
    |---|---|
    | SGD | momentum, weight_decay |
    | RMSprop, NesterovRMSprop | rho, momentum, epsilon, weight_decay |
    | Adam, AdamW, Adamax, Nadam, Yogi | beta_1, beta_2, epsilon, weight_decay |
    | Lion | beta_1, beta_2, weight_decay |
    | Adadelta | rho, epsilon, weight_decay |
    | Adagrad, RAdam | epsilon, weight_decay |

    Any other optimizer, or another name, is refused with a ``ValueError`` when training
    begins, before any step.

    While the ``fit`` runs, ``optimizer.get_config()`` holds the scheduled variables: save
    weights only during it (``ModelCheckpoint(save_weights_only=True)``,
    ``BackupAndRestore``) and the whole model after it. Keras skips ``on_train_end`` when
    ``fit`` raises; the variables then stay on the optimizer but read the created value
    in any later ``fit`` that retraces its step, the next scheduler replaces them, and to
    train, evaluate or save without the callback after an error, wrap the fit in
    :meth:`restoring` or call :meth:`restore`::

        scheduler = HyperparameterScheduler({"momentum": schedule})
        with scheduler.restoring():
            model.fit(..., callbacks=[scheduler])

    ``value_k = schedule(iterations_k)`` where ``iterations_k`` is the number of updates done
    before step ``k``, the same clock as a learning-rate schedule.

    Args:
        schedules: mapping ``{hyperparameter name: schedule}``; a schedule is a
            ``LearningRateSchedule``, any callable of the step written in ``keras.ops``, or
            a number. Names are checked against the optimizer when training begins.
            Values are checked against the hyperparameter's range (``momentum`` and
            ``rho`` in ``[0, 1]``, ``beta_1`` and ``beta_2`` in ``[0, 1)``, ``epsilon`` and
            ``weight_decay`` ``>= 0``, any other finite): a number when the callback is
            created, a schedule's value at the first step when training begins.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import HyperparameterScheduler
    >>> from keras_recipes.schedules import OneCycle
    >>> lr = OneCycle(0.05, total_steps=20)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(lr, momentum=0.9), "mse")
    >>> x, y = np.ones((40, 4), "float32"), np.ones((40, 1), "float32")
    >>> cb = HyperparameterScheduler({"momentum": lr.momentum_schedule()})
    >>> _ = model.fit(x, y, batch_size=8, epochs=4, callbacks=[cb], verbose=0)
    >>> model.optimizer.momentum  # a float again after the fit
    0.9

    References:
        - Smith, 2018, "A disciplined approach to neural network hyper-parameters",
          https://arxiv.org/abs/1803.09820
        - Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization",
          https://arxiv.org/abs/1711.05101
        - optax ``inject_hyperparams``,
          https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
    """

    def __init__(self, schedules: Mapping[str, Any]):
        super().__init__()
        if not isinstance(schedules, Mapping) or not schedules:
            fail("schedules", "a non-empty mapping {hyperparameter name: schedule}", schedules)
        for name, schedule in schedules.items():
            if not isinstance(name, str):
                fail("schedules", "keyed by hyperparameter names (str)", schedules)
            if name == "learning_rate":
                raise ValueError(
                    "Argument `schedules` must not hold 'learning_rate': pass the schedule as "
                    "the optimizer's `learning_rate` instead. Received: "
                    f"schedules keys={sorted(schedules)}"
                )
            if not (callable(schedule) or _is_number(schedule)):
                fail(f"schedules['{name}']", "a schedule, a callable of the step or a number",
                     schedule)
            if _is_number(schedule):
                check_value(name, schedule, f"schedules['{name}']")
        self.schedules = dict(schedules)

    def get_config(self) -> dict:
        return {"schedules": {
            name: s if _is_number(s) else keras.saving.serialize_keras_object(s)
            for name, s in self.schedules.items()
        }}

    @classmethod
    def from_config(cls, config: dict) -> HyperparameterScheduler:
        return cls({
            name: s if _is_number(s) else keras.saving.deserialize_keras_object(s)
            for name, s in config["schedules"].items()
        })

    def _check(self, optimizer) -> None:
        """Refuse an optimizer, a name or a first value that cannot be scheduled."""
        kind = type(optimizer).__name__
        allowed = _declared(type(optimizer))
        if allowed is None:
            supported = sorted(c.__name__ for c in SCHEDULABLE_HYPERPARAMETERS)
            raise ValueError(
                f"HyperparameterScheduler cannot schedule the hyperparameters of {kind}: "
                f"it supports {supported}, whose updates are known to read them inside the "
                "train step. A custom optimizer that reads them only through `keras.ops` or "
                "arithmetic can list them in a class attribute "
                f"`schedulable_hyperparameters`. Received: optimizer={kind}"
            )
        allowed = sorted(allowed)
        unknown = sorted(n for n in self.schedules if n not in allowed and
                         not hasattr(optimizer, n))
        if unknown:
            raise ValueError(
                f"Unknown hyperparameter(s) {unknown} for {kind}. Its schedulable "
                f"hyperparameters are: {allowed}. Received: schedules keys="
                f"{sorted(self.schedules)}"
            )
        refused = sorted(set(self.schedules) - set(allowed))
        if refused:
            raise ValueError(
                f"Hyperparameter(s) {refused} of {kind} cannot be scheduled: its update "
                "reads them when the step is built, not inside it. Its schedulable "
                f"hyperparameters are: {allowed}. Received: schedules keys="
                f"{sorted(self.schedules)}"
            )
        for name in sorted(_NEEDS_SLOT & set(self.schedules)):
            if getattr(optimizer, name) == 0:
                raise ValueError(
                    f"{kind} was created with {name}=0, so it keeps no {name} buffer and "
                    f"ignores a {name} schedule. Create it with {name} > 0 (e.g. the "
                    f"schedule's first value). Received: {name}=0"
                )
        for name, schedule in self.schedules.items():
            if not _is_number(schedule):  # the value the first step will use
                check_value(name, current_value(schedule, optimizer), f"schedules['{name}']")

    def on_train_begin(self, logs=None):
        model = self.model
        optimizer = model.optimizer
        _uninstall(optimizer)  # left by a fit that raised; the step is rebuilt below
        self._check(optimizer)
        _refuse_whole_model_checkpoints(self)
        _install(optimizer, self.schedules, _FitGuard(model))
        model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        self.restore(self.model)

    @staticmethod
    def restore(target: keras.Model | keras.optimizers.Optimizer) -> bool:
        """Give a model (or an optimizer) back its plain hyperparameters after a failed ``fit``.

        Keras skips ``on_train_end`` when ``fit`` raises, so the optimizer keeps the
        scheduled variables and the model keeps the compiled step that reads the schedules.
        This puts the optimizer's own floats back and, given a model, rebuilds its train
        step, so that a later ``fit`` without the callback trains with them. Calling it when
        nothing is scheduled is harmless. :meth:`restoring` calls it for you.

        Args:
            target: the model whose ``fit`` raised, or its optimizer (then rebuild the
                model's step with ``model.make_train_function(force=True)``).

        Returns:
            Whether any scheduled hyperparameter was removed.

        Example:

        >>> import keras
        >>> from keras_recipes.callbacks import HyperparameterScheduler
        >>> HyperparameterScheduler.restore(keras.optimizers.SGD(momentum=0.9))
        False
        """
        if isinstance(target, keras.Model):
            optimizer = getattr(target, "optimizer", None)
            removed = optimizer is not None and _uninstall(optimizer)
            if optimizer is not None:
                target.make_train_function(force=True)
            return removed
        return _uninstall(target)

    @contextlib.contextmanager
    def restoring(self) -> Iterator[HyperparameterScheduler]:
        """Context manager: if the block raises, :meth:`restore` the model, then re-raise.

        Example:

        >>> from keras_recipes.callbacks import HyperparameterScheduler
        >>> scheduler = HyperparameterScheduler({"momentum": 0.9})
        >>> with scheduler.restoring():
        ...     pass
        """
        try:
            yield self
        except BaseException:
            model = self.model
            if model is not None:
                self.restore(model)
            raise

    def values(self) -> dict[str, float]:
        """Each scheduled hyperparameter's value at the optimizer's current step."""
        optimizer = self.model.optimizer
        return {name: current_value(s, optimizer) for name, s in self.schedules.items()}
