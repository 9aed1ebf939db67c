"""Warm-up in front of any learning-rate schedule."""

from __future__ import annotations

import math

from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, check_one_of, check_positive
from keras_recipes.schedules._base import ArgumentsSchedule
from keras_recipes.schedules._common import (
    as_float_step,
    check_schedule,
    deserialize_schedule,
    evaluate,
    shift,
)


@keras_recipes_export
class Warmup(ArgumentsSchedule):
    """Ramp from ``start_value`` to a schedule's first value, then run the schedule.

    Use it whenever large early steps destabilise training (large batches, Adam on
    Transformers, LLaMA-style "linear warm-up then cosine"). Unlike Keras's ``CosineDecay``
    warm-up it works in front of any schedule.

    With ``W = warmup_steps``, ``S = schedule`` and ``p = t / W``:

    - ``t < W``: ``lr(t) = start + (S(0) − start) · f(p)`` with ``f(p) = p`` (linear) or
      ``f(p) = (1 − cos(π p)) / 2`` (cosine);
    - ``t >= W``: ``lr(t) = S(t − W)``: the wrapped schedule's clock starts when the
      warm-up ends, so the value is continuous at ``W``.

    Args:
        schedule: the schedule to run after the warm-up, or a number >= 0 (constant rate).
        warmup_steps: length of the warm-up in steps, integer > 0.
        start_value: value at step 0, >= 0. Defaults to ``0.0``.
        shape: ``"linear"`` or ``"cosine"``. Defaults to ``"linear"``.
        name: name of the schedule. Defaults to ``"Warmup"``.

    Example:

    >>> import keras
    >>> from keras_recipes.schedules import Warmup
    >>> # LLaMA 3: linear warm-up of 8000 steps to 8e-5, cosine decay to 8e-7
    >>> cosine = keras.optimizers.schedules.CosineDecay(8e-5, 1_200_000, alpha=0.01)
    >>> sched = Warmup(cosine, warmup_steps=8000)
    >>> round(float(sched(4000)) / 8e-5, 3)
    0.5

    References:
        - Goyal et al., 2017, "Accurate, Large Minibatch SGD",
          https://arxiv.org/abs/1706.02677
        - Llama Team, 2024, "The Llama 3 Herd of Models", https://arxiv.org/abs/2407.21783
    """

    _schedule_arguments = ("schedule",)

    def __init__(
        self,
        schedule,
        warmup_steps: int,
        start_value: float = 0.0,
        shape: str = "linear",
        name: str = "Warmup",
    ):
        super().__init__()
        schedule = check_schedule("schedule", deserialize_schedule(schedule))
        check_positive("warmup_steps", warmup_steps, integer=True)
        check_number("start_value", start_value, low=0)
        check_one_of("shape", shape, ("linear", "cosine"))
        self._store(
            schedule=schedule,
            warmup_steps=warmup_steps,
            start_value=start_value,
            shape=shape,
            name=name,
        )

    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        t = as_float_step(step)
        w = float(self.warmup_steps)
        p = ops.clip(t / w, 0.0, 1.0)
        if self.shape == "cosine":
            p = 0.5 * (1.0 - ops.cos(math.pi * p))
        target = evaluate(self.schedule, ops.zeros_like(step))
        start = float(self.start_value)
        ramp = start + (target - start) * p
        after = evaluate(self.schedule, shift(step, int(self.warmup_steps)))
        return ops.where(t < w, ramp, after)

