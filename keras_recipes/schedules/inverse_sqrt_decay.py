"""Inverse square-root decay (Transformer / T5 / fairseq style)."""

from __future__ import annotations

from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive
from keras_recipes.schedules._base import ArgumentsSchedule
from keras_recipes.schedules._common import as_float_step


@keras_recipes_export
class InverseSqrtDecay(ArgumentsSchedule):
    """Learning rate proportional to ``1/sqrt(t)``, defined from step 0.

    Use it for long trainings of attention models, usually after a warm-up: it decays fast
    at first and very slowly afterwards.

    ``lr(t) = initial_learning_rate / sqrt(1 + t / decay_steps)``

    The seed formula ``α_t = α_0 / sqrt(t)`` is infinite at ``t = 0``; shifting by one
    ``decay_steps`` keeps ``lr(0) = initial_learning_rate`` and the same ``1/sqrt(t)`` tail.
    Wrapped in :class:`Warmup` with ``warmup_steps = decay_steps = W`` it is exactly the
    Transformer schedule after warm-up: ``lr(t) = initial_learning_rate · sqrt(W / t)`` for
    ``t >= W``.

    Args:
        initial_learning_rate: value at step 0, > 0.
        decay_steps: time scale of the decay, > 0. Defaults to ``1``.
        name: name of the schedule. Defaults to ``"InverseSqrtDecay"``.

    Example:

    >>> from keras_recipes.schedules import InverseSqrtDecay
    >>> sched = InverseSqrtDecay(1.0, decay_steps=100)
    >>> round(float(sched(300)), 4)  # 1 / sqrt(1 + 3)
    0.5

    References:
        - Vaswani et al., 2017, "Attention Is All You Need", https://arxiv.org/abs/1706.03762
        - Raffel et al., 2020, "Exploring the Limits of Transfer Learning (T5)",
          https://arxiv.org/abs/1910.10683
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float = 1,
        name: str = "InverseSqrtDecay",
    ):
        super().__init__()
        check_positive("initial_learning_rate", initial_learning_rate)
        check_positive("decay_steps", decay_steps)
        self._store(
            initial_learning_rate=initial_learning_rate,
            decay_steps=decay_steps,
            name=name,
        )

    def __call__(self, step):
        t = ops.maximum(as_float_step(step), 0.0)
        return float(self.initial_learning_rate) * ops.rsqrt(1.0 + t / float(self.decay_steps))

