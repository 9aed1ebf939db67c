"""Schedule any optimizer hyperparameter (momentum, beta_1, weight_decay, ...) by step."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import fail

# Optimizer config entries that are not update hyperparameters, or are scheduled elsewhere.
_NOT_SCHEDULABLE = frozenset({
    "name", "learning_rate", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
    "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
    "gradient_accumulation_steps",
})
# Attributes set on the optimizer while a scheduler is installed.
_SCHEDULES_ATTR = "_keras_recipes_schedules"
_ORIGINAL_APPLY_ATTR = "_keras_recipes_unscheduled_apply"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


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
    """``{name: schedule}`` currently installed on ``optimizer`` (empty when none)."""
    return dict(getattr(optimizer, _SCHEDULES_ATTR, None) or {})


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


def _install(optimizer, schedules: dict) -> None:
    object.__setattr__(optimizer, _SCHEDULES_ATTR, dict(schedules))
    if _ORIGINAL_APPLY_ATTR in vars(optimizer):
        return
    object.__setattr__(optimizer, _ORIGINAL_APPLY_ATTR, optimizer.apply)

    def apply(grads, trainable_variables=None):
        active = getattr(optimizer, _SCHEDULES_ATTR)
        step = optimizer.iterations
        saved = {name: getattr(optimizer, name) for name in active}
        try:
            for name, schedule in active.items():
                if _is_number(schedule):
                    value = ops.convert_to_tensor(float(schedule), dtype="float32")
                else:
                    value = ops.cast(schedule(step), "float32")
                nominal = saved[name] if _is_number(saved[name]) else 1.0
                object.__setattr__(optimizer, name, _InGraphValue(value, nominal))
            return vars(optimizer)[_ORIGINAL_APPLY_ATTR](grads, trainable_variables)
        finally:
            for name, value in saved.items():
                object.__setattr__(optimizer, name, value)

    object.__setattr__(optimizer, "apply", apply)


def _uninstall(optimizer) -> None:
    attrs = vars(optimizer)
    for attr in ("apply", _ORIGINAL_APPLY_ATTR, _SCHEDULES_ATTR):
        if attr in attrs:
            object.__delattr__(optimizer, attr)


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

    ``value_k = schedule(iterations_k)`` where ``iterations_k`` is the number of updates done
    before step ``k``, the same clock as a learning-rate schedule.

    Args:
        schedules: mapping ``{hyperparameter name: schedule}``; a schedule is a
            ``LearningRateSchedule``, any callable of the step written in ``keras.ops``, or
            a number. Names are checked against the optimizer when training begins.

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
        optimizer = self.model.optimizer
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
        _install(optimizer, self.schedules)
        self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        _uninstall(self.model.optimizer)
        self.model.make_train_function(force=True)

    def values(self) -> dict[str, float]:
        """Each scheduled hyperparameter's value at the optimizer's current step."""
        optimizer = self.model.optimizer
        return {name: current_value(s, optimizer) for name, s in self.schedules.items()}
