"""Cyclical learning rates (Smith, 2017)."""

from __future__ import annotations

import math

from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_less, check_number, check_one_of, check_positive
from keras_recipes.schedules._base import ArgumentsSchedule
from keras_recipes.schedules._common import as_float_step


@keras_recipes_export
class CyclicLR(ArgumentsSchedule):
    """Learning rate that oscillates between ``base_lr`` and ``max_lr`` (CLR).

    Use it to avoid tuning a decay, to cross saddle points, or with a short range test to
    find ``base_lr`` and ``max_lr`` (Smith suggests ``step_size`` = 2 to 10 epochs).

    Smith (2017), with ``t`` the step and ``s = step_size``:

    - ``cycle = floor(1 + t / (2 s))``, ``x = |t / s − 2 · cycle + 1|``;
    - ``lr(t) = base_lr + (max_lr − base_lr) · max(0, 1 − x) · scale``;
    - ``scale = 1`` (``"triangular"``), ``1 / 2^(cycle − 1)`` (``"triangular2"``) or
      ``gamma^t`` (``"exp_range"``).

    Args:
        base_lr: lower bound, >= 0.
        max_lr: upper bound, > ``base_lr``.
        step_size: steps in half a cycle, > 0.
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
            Defaults to ``"triangular"``.
        gamma: decay per step for ``"exp_range"``, in ``(0, 1]``. Defaults to ``1.0``.
        name: name of the schedule. Defaults to ``"CyclicLR"``.

    Example:

    >>> from keras_recipes.schedules import CyclicLR
    >>> sched = CyclicLR(0.001, 0.006, step_size=2000)
    >>> round(float(sched(1000)), 4), round(float(sched(2000)), 4)
    (0.0035, 0.006)

    References:
        - Smith, 2017, "Cyclical Learning Rates for Training Neural Networks",
          https://arxiv.org/abs/1506.01186
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size: float,
        mode: str = "triangular",
        gamma: float = 1.0,
        name: str = "CyclicLR",
    ):
        super().__init__()
        check_number("base_lr", base_lr, low=0)
        check_number("max_lr", max_lr)
        check_less("base_lr", base_lr, "max_lr", max_lr)
        check_positive("step_size", step_size)
        check_one_of("mode", mode, ("triangular", "triangular2", "exp_range"))
        check_number("gamma", gamma, low=0, low_inclusive=False, high=1)
        self._store(
            base_lr=base_lr,
            max_lr=max_lr,
            step_size=step_size,
            mode=mode,
            gamma=gamma,
            name=name,
        )

    def __call__(self, step):
        t = ops.maximum(as_float_step(step), 0.0)
        s = float(self.step_size)
        cycle = ops.floor(1.0 + t / (2.0 * s))
        x = ops.abs(t / s - 2.0 * cycle + 1.0)
        height = ops.maximum(0.0, 1.0 - x)
        if self.mode == "triangular2":
            height = height / ops.power(2.0, cycle - 1.0)
        elif self.mode == "exp_range":
            # gamma^t as exp(t·log gamma), log taken in double precision.
            height = height * ops.exp(t * math.log(float(self.gamma)))
        base = float(self.base_lr)
        return base + (float(self.max_lr) - base) * height

