"""Helpers shared by the schedules: nested (de)serialization, evaluation, checks."""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import ops

from keras_recipes._validation import fail

ScheduleLike = Any  # a LearningRateSchedule or a number (a constant value)


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_schedule(name: str, value: Any) -> Any:
    """Accept a ``LearningRateSchedule`` or a finite number ``>= 0`` (a constant rate).

    A negative constant would make the optimizer climb the loss; it is refused here rather
    than discovered as a diverging run.
    """
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    if is_number(value) and math.isfinite(float(value)) and float(value) >= 0:
        return value
    fail(name, "a `keras.optimizers.schedules.LearningRateSchedule` or a number >= 0", value)


def serialize_schedule(value: ScheduleLike) -> Any:
    """A number stays a number; a schedule becomes its Keras serialization."""
    if is_number(value):
        return float(value)
    return keras.optimizers.schedules.serialize(value)


def deserialize_schedule(config: Any) -> ScheduleLike:
    """Inverse of :func:`serialize_schedule`; already-built schedules pass through."""
    if is_number(config) or isinstance(config, keras.optimizers.schedules.LearningRateSchedule):
        return config
    return keras.optimizers.schedules.deserialize(config)


def evaluate(value: ScheduleLike, step):
    """``value(step)`` as float32 (a number is broadcast to the shape of ``step``)."""
    step = ops.convert_to_tensor(step)
    if is_number(value):
        return ops.full(ops.shape(step), float(value), dtype="float32")
    return ops.cast(value(step), "float32")


def as_float_step(step):
    return ops.cast(ops.convert_to_tensor(step), "float32")


def shift(step, offset: int):
    """``max(step − offset, 0)`` in the dtype of ``step`` (integer steps stay integers)."""
    step = ops.convert_to_tensor(step)
    return ops.maximum(step - ops.cast(offset, step.dtype), ops.zeros_like(step))
