"""Warm restarts (SGDR) over any base schedule."""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, check_positive, fail
from keras_recipes.schedules._base import ArgumentsSchedule
from keras_recipes.schedules._common import (
    as_float_step,
    deserialize_schedule,
    evaluate,
    is_number,
)


@keras_recipes_export
class WarmRestarts(ArgumentsSchedule):
    """Restart a schedule periodically, with longer and lower cycles if asked (SGDR).

    Use it for stochastic gradient descent with warm restarts, for snapshot ensembles (one
    snapshot per cycle minimum), or to repeat any decay. With a number as first argument it
    is SGDR's cosine annealing (the same values as Keras's ``CosineDecayRestarts``); with a
    schedule it restarts that schedule instead.

    Cycle ``i`` lasts ``T_i = period · t_mult^i`` steps and starts at
    ``s_i = period · (t_mult^i − 1) / (t_mult − 1)`` (``i · period`` when ``t_mult = 1``).
    With ``τ = (t − s_i) / T_i ∈ [0, 1)`` the fraction of the cycle done:

    - schedule base: ``lr(t) = m_mul^i · base(τ · period)`` (the base's first ``period``
      steps are stretched over the cycle);
    - cosine base (Keras's ``CosineDecayRestarts`` formula, where ``m_mul`` scales the
      amplitude above the floor ``alpha · η0``):
      ``lr(t) = η0 · (alpha + (1 − alpha) · m_mul^i · (1 + cos(π τ)) / 2)``.

    Args:
        schedule_or_period: a ``LearningRateSchedule`` to restart, or the length of the
            first cycle in steps for SGDR's cosine.
        t_mult: growth factor of the cycle length, >= 1. Defaults to ``1.0``.
        m_mul: multiplier of the values at each restart, > 0. Defaults to ``1.0``.
        period: length of the first cycle in steps; required with a schedule base.
            Defaults to ``None``.
        initial_learning_rate: cosine's peak ``η0``; required with a period. Defaults to
            ``None``.
        alpha: cosine's minimum as a fraction of ``η0``, in ``[0, 1]``. Defaults to ``0.0``.
        name: name of the schedule. Defaults to ``"WarmRestarts"``.

    Example:

    >>> from keras_recipes.schedules import WarmRestarts
    >>> sched = WarmRestarts(100, t_mult=2.0, initial_learning_rate=0.1)
    >>> round(float(sched(0)), 4), round(float(sched(50)), 4), round(float(sched(100)), 4)
    (0.1, 0.05, 0.1)

    References:
        - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with Warm
          Restarts", https://arxiv.org/abs/1608.03983
    """

    _schedule_arguments = ("schedule_or_period",)

    def __init__(
        self,
        schedule_or_period,
        t_mult: float = 1.0,
        m_mul: float = 1.0,
        period: float | None = None,
        initial_learning_rate: float | None = None,
        alpha: float = 0.0,
        name: str = "WarmRestarts",
    ):
        super().__init__()
        schedule_or_period = deserialize_schedule(schedule_or_period)
        check_number("t_mult", t_mult, low=1)
        check_positive("m_mul", m_mul)
        check_number("alpha", alpha, low=0, high=1)
        if is_number(schedule_or_period):
            check_positive("schedule_or_period", schedule_or_period)
            if initial_learning_rate is None:
                fail("initial_learning_rate", "a positive number when a period is given",
                     initial_learning_rate)
            check_positive("initial_learning_rate", initial_learning_rate)
            if period is not None and float(period) != float(schedule_or_period):
                fail("period", "None or equal to `schedule_or_period`", period)
            cycle = float(schedule_or_period)
        elif isinstance(schedule_or_period, keras.optimizers.schedules.LearningRateSchedule):
            if period is None:
                fail("period", "a positive number when a schedule is given", period)
            check_positive("period", period)
            cycle = float(period)
        else:
            fail("schedule_or_period", "a `LearningRateSchedule` or a positive number",
                 schedule_or_period)
        self._store(
            schedule_or_period=schedule_or_period,
            t_mult=t_mult,
            m_mul=m_mul,
            period=period,
            initial_learning_rate=initial_learning_rate,
            alpha=alpha,
            name=name,
        )
        self._cycle = cycle

    def _start(self, i):
        p, m = self._cycle, float(self.t_mult)
        if m == 1.0:
            return p * i
        return p * (ops.power(m, i) - 1.0) / (m - 1.0)

    def cycle_index(self, step):
        """Index ``i`` of the cycle that contains ``step`` (float32 tensor)."""
        t = ops.maximum(as_float_step(step), 0.0)
        p, m = self._cycle, float(self.t_mult)
        if m == 1.0:
            i = ops.floor(t / p)
        else:
            i = ops.floor(ops.log(1.0 + t / p * (m - 1.0)) / math.log(m))
        # Correct float rounding at cycle boundaries (compilers may divide by reciprocals).
        i = ops.where(t >= self._start(i + 1.0), i + 1.0, i)
        return ops.where(t < self._start(i), i - 1.0, i)

    def __call__(self, step):
        t = ops.maximum(as_float_step(step), 0.0)
        i = self.cycle_index(t)
        length = self._cycle * ops.power(float(self.t_mult), i)
        tau = ops.clip((t - self._start(i)) / length, 0.0, 1.0)
        scale = ops.power(float(self.m_mul), i)
        if is_number(self.schedule_or_period):
            a = float(self.alpha)
            cosine = ops.square(ops.cos(0.5 * math.pi * tau))  # (1 + cos(π τ)) / 2
            return float(self.initial_learning_rate) * (a + (1.0 - a) * scale * cosine)
        return scale * evaluate(self.schedule_or_period, tau * self._cycle)

