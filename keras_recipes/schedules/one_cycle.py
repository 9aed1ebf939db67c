"""One-cycle policy (Smith & Topin; fastai's ``fit_one_cycle``) and its momentum cycle."""

from __future__ import annotations

import math

from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import (
    check_number,
    check_one_of,
    check_positive,
    check_probability,
)
from keras_recipes.schedules._base import ArgumentsSchedule
from keras_recipes.schedules._common import as_float_step


def _check_pct(pct_start):
    check_number("pct_start", pct_start, low=0, low_inclusive=False, high=1,
                 high_inclusive=False)


def _two_phases(step, total, pct, start, peak, end, anneal):
    """start → peak over ``pct·total`` steps, then peak → end at ``total``; held after."""
    t = ops.clip(as_float_step(step), 0.0, float(total))
    rise = pct * float(total)
    first = ops.clip(t / rise, 0.0, 1.0)
    second = ops.clip((t - rise) / (float(total) - rise), 0.0, 1.0)

    def interp(a, b, x):
        # a·w + b·(1 − w) is exact at both ends (no cancellation in float32).
        if anneal == "cos":  # w = (1 + cos(π x)) / 2 = cos²(π x / 2)
            w, one_minus_w = ops.square(ops.cos(0.5 * math.pi * x)), ops.square(
                ops.sin(0.5 * math.pi * x))
        else:
            w, one_minus_w = 1.0 - x, x
        return a * w + b * one_minus_w

    return ops.where(t < rise, interp(start, peak, first), interp(peak, end, second))


@keras_recipes_export
class OneCycle(ArgumentsSchedule):
    """One cycle: warm up from ``max_lr/div`` to ``max_lr``, then anneal to ``max_lr/final_div``.

    Use it to train fast with a large learning rate for a known number of steps (fastai's
    default policy); pair it with :meth:`momentum_schedule` and
    :class:`keras_recipes.callbacks.HyperparameterScheduler` for the inverse momentum cycle.

    With ``p = t / total_steps`` and ``q = pct_start`` (fastai's semantics and defaults):

    - ``p < q``: ``lr = anneal(max_lr/div, max_lr, p / q)``;
    - ``p >= q``: ``lr = anneal(max_lr, max_lr/final_div, (p − q) / (1 − q))``;
    - ``anneal(a, b, x) = b + (a − b)(1 + cos(π x))/2`` (``"cos"``) or ``a + (b − a) x``
      (``"linear"``). The value is held at ``max_lr/final_div`` after ``total_steps``.

    Args:
        max_lr: peak learning rate, > 0.
        total_steps: length of the cycle in steps (epochs × steps per epoch), > 0.
        pct_start: fraction of the cycle spent increasing, in ``(0, 1)``. Defaults to
            ``0.25``.
        div: ``max_lr / div`` is the starting value, > 0. Defaults to ``25.0``.
        final_div: ``max_lr / final_div`` is the final value, > 0. Defaults to ``1e5``.
        anneal: ``"cos"`` or ``"linear"``. Defaults to ``"cos"``.
        name: name of the schedule. Defaults to ``"OneCycle"``.

    Example:

    >>> from keras_recipes.schedules import OneCycle
    >>> sched = OneCycle(1e-2, total_steps=1000)
    >>> round(float(sched(0)), 6), round(float(sched(250)), 6)
    (0.0004, 0.01)
    >>> momentum = sched.momentum_schedule()  # 0.95 -> 0.85 -> 0.95
    >>> round(float(momentum(250)), 4)
    0.85

    References:
        - Smith & Topin, 2017, "Super-Convergence", https://arxiv.org/abs/1708.07120
        - Smith, 2018, "A disciplined approach to neural network hyper-parameters",
          https://arxiv.org/abs/1803.09820
        - fastai ``fit_one_cycle``, https://docs.fast.ai/callback.schedule.html
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.25,
        div: float = 25.0,
        final_div: float = 1e5,
        anneal: str = "cos",
        name: str = "OneCycle",
    ):
        super().__init__()
        check_positive("max_lr", max_lr)
        check_positive("total_steps", total_steps, integer=True)
        _check_pct(pct_start)
        check_positive("div", div)
        check_positive("final_div", final_div)
        check_one_of("anneal", anneal, ("cos", "linear"))
        self._store(
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            div=div,
            final_div=final_div,
            anneal=anneal,
            name=name,
        )

    def __call__(self, step):
        peak = float(self.max_lr)
        return _two_phases(step, self.total_steps, float(self.pct_start), peak / self.div,
                           peak, peak / self.final_div, self.anneal)

    def momentum_schedule(
        self, max_momentum: float = 0.95, min_momentum: float = 0.85
    ) -> OneCycleMomentum:
        """The companion momentum cycle: ``max_momentum → min_momentum → max_momentum``.

        Its phases coincide with this schedule's (same ``total_steps``, ``pct_start`` and
        ``anneal``). Schedule it with ``HyperparameterScheduler({"momentum": ...})`` for SGD
        or ``{"beta_1": ...}`` for Adam.
        """
        return OneCycleMomentum(self.total_steps, self.pct_start, max_momentum,
                                min_momentum, self.anneal)



@keras_recipes_export
class OneCycleMomentum(ArgumentsSchedule):
    """The one-cycle momentum: high → low while the learning rate rises, back to high after.

    Use it with :class:`keras_recipes.callbacks.HyperparameterScheduler` next to
    :class:`OneCycle` (``OneCycle.momentum_schedule()`` builds it with matching phases).

    With ``p = t / total_steps`` and ``q = pct_start``: ``anneal(max_momentum, min_momentum,
    p/q)`` for ``p < q``, then ``anneal(min_momentum, max_momentum, (p − q)/(1 − q))``.

    Args:
        total_steps: length of the cycle in steps, > 0.
        pct_start: fraction of the cycle spent decreasing, in ``(0, 1)``. Defaults to
            ``0.25``.
        max_momentum: value at both ends, in ``[0, 1]``. Defaults to ``0.95``.
        min_momentum: value at ``pct_start``, in ``[0, 1]``. Defaults to ``0.85``.
        anneal: ``"cos"`` or ``"linear"``. Defaults to ``"cos"``.
        name: name of the schedule. Defaults to ``"OneCycleMomentum"``.

    Example:

    >>> from keras_recipes.schedules import OneCycleMomentum
    >>> m = OneCycleMomentum(1000)
    >>> round(float(m(0)), 4), round(float(m(250)), 4), round(float(m(1000)), 4)
    (0.95, 0.85, 0.95)

    References:
        - Smith, 2018, "A disciplined approach to neural network hyper-parameters",
          https://arxiv.org/abs/1803.09820
    """

    def __init__(
        self,
        total_steps: int,
        pct_start: float = 0.25,
        max_momentum: float = 0.95,
        min_momentum: float = 0.85,
        anneal: str = "cos",
        name: str = "OneCycleMomentum",
    ):
        super().__init__()
        check_positive("total_steps", total_steps, integer=True)
        _check_pct(pct_start)
        check_probability("max_momentum", max_momentum, include_one=True)
        check_probability("min_momentum", min_momentum, include_one=True)
        check_one_of("anneal", anneal, ("cos", "linear"))
        self._store(
            total_steps=total_steps,
            pct_start=pct_start,
            max_momentum=max_momentum,
            min_momentum=min_momentum,
            anneal=anneal,
            name=name,
        )

    def __call__(self, step):
        high, low = float(self.max_momentum), float(self.min_momentum)
        return _two_phases(step, self.total_steps, float(self.pct_start), high, low, high,
                           self.anneal)

