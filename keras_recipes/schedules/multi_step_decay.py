"""Step-wise learning-rate schedule (PyTorch's ``MultiStepLR``, the seeds' training schedule)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, check_positive, fail, received
from keras_recipes.schedules._base import ArgumentsSchedule
from keras_recipes.schedules._common import (
    as_float_step,
    deserialize_schedule,
    evaluate,
    is_number,
)


@keras_recipes_export
class MultiStepDecay(ArgumentsSchedule):
    """Piecewise-constant learning rate that changes at fixed boundaries.

    Use it for a training schedule decided in advance ("horaire d'entraînement"), for the
    schedule found by :class:`keras_recipes.callbacks.ReduceLROnPlateau` (seed strategy #1),
    for ResNet's ×0.1 at epochs 30/60/90, or for DeepSeek's multi-step decay.

    With ``b_1 < ... < b_n`` the boundaries (in steps, or in epochs when
    ``steps_per_epoch`` is given) and ``i(t) = #{k : t >= b_k}``:

    ``lr(t) = values[i(t)]``, or ``lr(t) = initial_learning_rate · factor^i(t)``.

    A boundary is the first step of the new value (``t >= b``, like PyTorch's
    ``MultiStepLR``; Keras's ``PiecewiseConstantDecay`` switches one step later, at ``t > b``).
    When ``initial_learning_rate`` is itself a schedule, the step factors multiply it:
    ``lr(t) = initial_learning_rate(t) · values[i(t)]`` (``values`` are then multipliers).

    Args:
        boundaries: increasing non-negative step (or epoch) numbers.
        factor: multiplier applied at each boundary, > 0; used when ``values`` is not
            given. Defaults to ``0.1``.
        values: explicit value of each interval, ``len(boundaries) + 1`` numbers >= 0.
            Defaults to ``None``.
        initial_learning_rate: value before the first boundary (a number, or a schedule to
            scale). Required unless ``values`` is given as absolute rates. Defaults to
            ``None``.
        steps_per_epoch: when given, ``boundaries`` are epochs and are multiplied by it.
            Defaults to ``None`` (boundaries are steps).
        name: name of the schedule. Defaults to ``"MultiStepDecay"``.

    Example:

    >>> from keras_recipes.schedules import MultiStepDecay
    >>> # seed 000: 0.1 -> 0.01 at epoch 75 -> 0.001 at 125 -> 0.0001 at 175
    >>> sched = MultiStepDecay([75, 125, 175], factor=0.1, initial_learning_rate=0.1,
    ...                        steps_per_epoch=100)
    >>> round(float(sched(75 * 100 - 1)), 6), round(float(sched(75 * 100)), 6)
    (0.1, 0.01)
    >>> # DeepSeek: 100% -> 31.6% -> 10% of the peak at 80% and 90% of training
    >>> total = 10_000
    >>> ds = MultiStepDecay([int(0.8 * total), int(0.9 * total)],
    ...                     values=[3e-4, 0.316 * 3e-4, 0.1 * 3e-4])

    References:
        - He et al., 2016, "Deep Residual Learning for Image Recognition",
          https://arxiv.org/abs/1512.03385
        - DeepSeek-AI, 2024, "DeepSeek LLM", https://arxiv.org/abs/2401.02954
    """

    _schedule_arguments = ("initial_learning_rate",)

    def __init__(
        self,
        boundaries: Sequence[float],
        factor: float = 0.1,
        values: Sequence[float] | None = None,
        initial_learning_rate=None,
        steps_per_epoch: int | None = None,
        name: str = "MultiStepDecay",
    ):
        super().__init__()
        try:
            bounds = [float(b) for b in boundaries]
        except (TypeError, ValueError):
            fail("boundaries", "a sequence of numbers", boundaries)
        for b in bounds:
            check_number("boundaries", b, low=0)
        if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)):
            fail("boundaries", "strictly increasing", list(boundaries))
        check_positive("factor", factor)
        if steps_per_epoch is not None:
            check_positive("steps_per_epoch", steps_per_epoch, integer=True)
        initial_learning_rate = deserialize_schedule(initial_learning_rate) if isinstance(
            initial_learning_rate, dict) else initial_learning_rate
        if initial_learning_rate is not None and not (
            is_number(initial_learning_rate)
            or isinstance(initial_learning_rate, keras.optimizers.schedules.LearningRateSchedule)
        ):
            fail("initial_learning_rate", "a number >= 0 or a `LearningRateSchedule`",
                 initial_learning_rate)
        if values is None:
            if initial_learning_rate is None:
                raise ValueError(
                    "Either `values` or `initial_learning_rate` must be given. "
                    + received(values=None, initial_learning_rate=None)
                )
            if is_number(initial_learning_rate):
                check_number("initial_learning_rate", initial_learning_rate, low=0)
            levels = [float(factor) ** i for i in range(len(bounds) + 1)]
        else:
            try:
                items = list(values)
            except TypeError:
                fail("values", "a sequence of numbers >= 0", values)
            levels = [float(check_number("values", v, low=0)) for v in items]
            if len(levels) != len(bounds) + 1:
                raise ValueError(
                    "Argument `values` must hold len(boundaries) + 1 numbers. "
                    + received(boundaries=list(boundaries), values=list(values))
                )
            if initial_learning_rate is not None and is_number(initial_learning_rate):
                raise ValueError(
                    "Give either `values` or a number `initial_learning_rate`, not both "
                    "(with a schedule as `initial_learning_rate`, `values` are multipliers). "
                    + received(values=list(values), initial_learning_rate=initial_learning_rate)
                )
        self._store(
            boundaries=list(boundaries),
            factor=factor,
            values=None if values is None else list(values),
            initial_learning_rate=initial_learning_rate,
            steps_per_epoch=steps_per_epoch,
            name=name,
        )
        scale = float(steps_per_epoch or 1)
        self._bounds = [b * scale for b in bounds]
        self._levels = levels

    def __call__(self, step):
        t = as_float_step(step)
        bounds = ops.convert_to_tensor(self._bounds or [float("inf")], dtype="float32")
        index = ops.sum(ops.cast(ops.expand_dims(t, -1) >= bounds, "int32"), axis=-1)
        level = ops.take(ops.convert_to_tensor(self._levels, dtype="float32"), index)
        base = self.initial_learning_rate
        if base is None:
            return level
        return evaluate(base, step) * level

