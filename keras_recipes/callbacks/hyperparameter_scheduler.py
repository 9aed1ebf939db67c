"""Schedule any optimizer hyperparameter (momentum, beta_1, weight_decay, ...) by step."""

from __future__ import annotations

import contextlib
import numbers
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, fail

# Optimizer config entries that are not update hyperparameters, or are scheduled elsewhere.
_NOT_SCHEDULABLE = frozenset({
    "name", "learning_rate", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
    "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
    "gradient_accumulation_steps",
})
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
# Attribute of the patched ``apply`` function that marks it and tells how to remove it.
_PATCH_ATTR = "_keras_recipes_scheduler_patch"
_MISSING = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_value(name: str, value: float, argument: str) -> None:
    """Raise ``ValueError`` when ``value`` is not finite or outside ``name``'s valid range."""
    low, high, high_inclusive = _RANGES.get(name, (None, None, True))
    check_number(argument, value, low=low, high=high, high_inclusive=high_inclusive)


def schedulable_hyperparameters(optimizer: keras.optimizers.Optimizer) -> list[str]:
    """Names of the optimizer's hyperparameters that :class:`HyperparameterScheduler` accepts.

    These are the numeric entries of ``optimizer.get_config()`` read by the update (for
    Adam: ``beta_1``, ``beta_2``, ``epsilon``), plus ``weight_decay``. The learning rate is
    scheduled by passing a schedule as the optimizer's ``learning_rate``.
    """
    config = optimizer.get_config()
    names = [
        key for key, value in config.items()
        if key not in _NOT_SCHEDULABLE and _is_number(value) and hasattr(optimizer, key)
    ]
    if "weight_decay" not in names and hasattr(optimizer, "weight_decay"):
        names.append("weight_decay")
    return sorted(names)


def scheduled_hyperparameters(optimizer: keras.optimizers.Optimizer) -> dict[str, Callable]:
    """``{name: schedule}`` scheduled on ``optimizer`` by a running ``fit`` (else empty)."""
    patch = _patch_of(optimizer)
    return dict(patch.schedules) if patch is not None and patch.guard.active() else {}


def current_value(schedule, optimizer: keras.optimizers.Optimizer) -> float:
    """Value of ``schedule`` at the optimizer's current step, as a Python float."""
    if _is_number(schedule):
        return float(schedule)
    value = schedule(optimizer.iterations)
    return float(np.asarray(ops.convert_to_numpy(value)).reshape(()))


class _InGraphValue:
    """Stand-in for a float hyperparameter during one optimizer step.

    Arithmetic and tensor conversion (``ops.cast``, ``ops.multiply``, ``1 - beta_1``...)
    see ``value``, a tensor computed in the train step from ``optimizer.iterations``.
    Python-level tests in optimizer code (``if self.momentum != 0``) see ``nominal``,
    the float the optimizer was created with, so its code paths and slots stay the same.
    """

    __slots__ = ("value", "nominal")

    def __init__(self, value, nominal: float):
        self.value = value
        self.nominal = nominal

    # Tensor conversion protocols (TensorFlow, JAX, NumPy).
    def __tf_tensor__(self, dtype=None, name=None):
        return self.value if dtype is None else ops.cast(self.value, dtype)

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(ops.convert_to_numpy(self.value), dtype=dtype)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def shape(self):
        return ()

    # Python-level decisions use the nominal float.
    def __bool__(self):
        return bool(self.nominal)

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

    # Arithmetic uses the in-graph value.
    def __add__(self, other):
        return ops.add(self.value, other)

    def __radd__(self, other):
        return ops.add(other, self.value)

    def __sub__(self, other):
        return ops.subtract(self.value, other)

    def __rsub__(self, other):
        return ops.subtract(other, self.value)

    def __mul__(self, other):
        return ops.multiply(self.value, other)

    def __rmul__(self, other):
        return ops.multiply(other, self.value)

    def __truediv__(self, other):
        return ops.divide(self.value, other)

    def __rtruediv__(self, other):
        return ops.divide(other, self.value)

    def __pow__(self, other):
        return ops.power(self.value, other)

    def __rpow__(self, other):
        return ops.power(other, self.value)

    def __neg__(self):
        return ops.negative(self.value)

    def __repr__(self):
        return f"<scheduled hyperparameter, nominal {self.nominal}>"


class _FitGuard:
    """True while the ``fit`` that installed a patch runs; checked when the step is traced.

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


class _Patch:
    """What a patched ``apply`` needs to be removed: the previous instance attribute."""

    __slots__ = ("previous", "schedules", "guard")

    def __init__(self, previous, schedules: dict, guard: _FitGuard):
        self.previous, self.schedules, self.guard = previous, schedules, guard


def _patch_of(optimizer) -> _Patch | None:
    return getattr(vars(optimizer).get("apply"), _PATCH_ATTR, None)


def _install(optimizer, schedules: dict, guard: _FitGuard) -> None:
    _uninstall(optimizer)
    schedules = dict(schedules)
    unscheduled = optimizer.apply

    def apply(grads, trainable_variables=None):
        # Runs when the step is traced (every step only with run_eagerly=True).
        if not guard.active():
            return unscheduled(grads, trainable_variables)
        step = optimizer.iterations
        # Under a tf.distribute strategy each replica traces this in its own thread, and
        # the threads interleave at the optimizer's merge_call: another replica's stand-in
        # may be in place here. Its nominal float is what must come back afterwards.
        saved = {}
        for name in schedules:
            current = getattr(optimizer, name)
            saved[name] = current.nominal if isinstance(current, _InGraphValue) else current
        try:
            for name, schedule in schedules.items():
                if _is_number(schedule):
                    value = ops.convert_to_tensor(float(schedule), dtype="float32")
                else:
                    value = ops.cast(schedule(step), "float32")
                nominal = saved[name] if _is_number(saved[name]) else 1.0
                object.__setattr__(optimizer, name, _InGraphValue(value, nominal))
            return unscheduled(grads, trainable_variables)
        finally:
            for name, value in saved.items():
                object.__setattr__(optimizer, name, value)

    setattr(apply, _PATCH_ATTR, _Patch(vars(optimizer).get("apply", _MISSING), schedules,
                                       guard))
    object.__setattr__(optimizer, "apply", apply)


def _uninstall(optimizer) -> bool:
    """Remove a scheduler's patch from ``optimizer``; True when there was one."""
    patch = _patch_of(optimizer)
    if patch is None:
        return False
    patch.guard.close()
    if patch.previous is _MISSING:
        object.__delattr__(optimizer, "apply")
    else:
        object.__setattr__(optimizer, "apply", patch.previous)
    return True


@keras_recipes_export
class HyperparameterScheduler(keras.callbacks.Callback):
    """Schedule optimizer hyperparameters other than the learning rate, inside the train step.

    Use it for the one-cycle momentum (0.95 → 0.85 → 0.95), a ``beta_1`` cycle for Adam,
    or a weight-decay schedule such as the seeds' training schedule (1e-4 → 5e-4 → 1e-5
    → 5e-5). It works with Keras's SGD, Adam, AdamW, RMSprop... and with optimizers that read
    their hyperparameters the same way.

    Keras optimizers keep hyperparameters as Python floats, which the compiled train step
    freezes as constants. During each ``optimizer.apply`` this callback substitutes every
    scheduled float by a stand-in whose tensor value is ``schedule(optimizer.iterations)``,
    computed inside the compiled step: the value changes every step with no retracing and no
    Python work per batch, and training resumed with ``BackupAndRestore`` follows the same
    trajectory. Python-level tests in the optimizer (``if momentum != 0``) see the
    optimizer's own float, so create SGD with ``momentum > 0`` to schedule momentum. Outside
    the step the attributes stay floats, so the model saves to ``.keras`` as usual. The
    step function is rebuilt once when training begins and once when it ends.

    The substitution is a patch of the optimizer's ``apply``, active only during the
    ``fit`` that installed it (checked when the step is traced, never per batch).
    ``on_train_end`` removes it, but Keras skips ``on_train_end`` when ``fit`` raises:
    the next scheduler's ``on_train_begin`` replaces a stale patch, a retrace in another
    ``fit`` ignores it, and to train or evaluate without the callback after an error,
    wrap the fit in :meth:`restoring` or call :meth:`restore` (without it, the model keeps
    the compiled step that reads the schedules)::

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

    References:
        - Smith, 2018, "A disciplined approach to neural network hyper-parameters",
          https://arxiv.org/abs/1803.09820
        - Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization",
          https://arxiv.org/abs/1711.05101
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

    def on_train_begin(self, logs=None):
        model = self.model
        optimizer = model.optimizer
        if _uninstall(optimizer):  # left by a fit that raised: its compiled step is stale
            model.make_train_function(force=True)
        allowed = schedulable_hyperparameters(optimizer)
        unknown = sorted(set(self.schedules) - set(allowed))
        if unknown:
            raise ValueError(
                f"Unknown hyperparameter(s) {unknown} for {type(optimizer).__name__}. "
                f"Its schedulable hyperparameters are: {allowed}. "
                f"Received: schedules keys={sorted(self.schedules)}"
            )
        if "momentum" in self.schedules and getattr(optimizer, "momentum", None) == 0:
            raise ValueError(
                f"{type(optimizer).__name__} was created with momentum=0, so it keeps no "
                "momentum buffer and ignores a momentum schedule. Create it with "
                "momentum > 0 (e.g. the schedule's first value). Received: momentum=0"
            )
        for name, schedule in self.schedules.items():
            if not _is_number(schedule):  # the value the first step will use
                check_value(name, current_value(schedule, optimizer), f"schedules['{name}']")
        _install(optimizer, self.schedules, _FitGuard(model))
        model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        self.restore(self.model)

    @staticmethod
    def restore(target: keras.Model | keras.optimizers.Optimizer) -> bool:
        """Give a model (or an optimizer) back its plain hyperparameters after a failed ``fit``.

        Keras skips ``on_train_end`` when ``fit`` raises, so the optimizer keeps the patched
        ``apply`` and the model keeps the compiled step that reads the schedules. This
        removes the patch and, given a model, rebuilds its train step, so that a later
        ``fit`` without the callback trains with the optimizer's own floats. Calling it when
        nothing is installed is harmless. :meth:`restoring` calls it for you.

        Args:
            target: the model whose ``fit`` raised, or its optimizer (then rebuild the
                model's step with ``model.make_train_function(force=True)``).

        Returns:
            Whether a patch was removed.

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
