"""Join schedules one after the other: warm-up → flat → cosine, and so on."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive, fail
from keras_recipes.schedules._common import (
    as_float_step,
    check_schedule,
    deserialize_schedule,
    evaluate,
    serialize_schedule,
    shift,
)


@keras_recipes_export
class Chain(keras.optimizers.schedules.LearningRateSchedule):
    """Run several schedules in sequence, each for a fixed number of steps.

    Use it to build multi-phase schedules from primitives: a warm-up, a flat phase, then a
    decay; or the seeds' "constant during X iterations, then cosine decay".

    With phases ``(n_0, S_0), (n_1, S_1), …`` and ``s_k = n_0 + … + n_{k−1}`` the first step
    of phase ``k``: ``lr(t) = S_k(t − s_k)`` for ``s_k <= t < s_{k+1}``. Each phase sees
    its own clock starting at 0. After the last boundary the last phase keeps running on
    its own clock (a ``CosineDecay`` then stays at its final value). The value is continuous
    at a boundary when ``S_k(n_k) = S_{k+1}(0)``; the chain does not force it.

    Args:
        phases: sequence of ``(steps, schedule)`` pairs; ``steps`` is a positive integer
            (``None`` is allowed for the last phase), ``schedule`` a
            ``LearningRateSchedule`` or a number.
        name: name of the schedule. Defaults to ``"Chain"``.

    Example:

    >>> import keras
    >>> from keras_recipes.schedules import Chain, Warmup
    >>> sched = Chain([
    ...     (100, Warmup(1e-3, warmup_steps=100)),                   # 0 -> 1e-3
    ...     (400, 1e-3),                                             # flat
    ...     (None, keras.optimizers.schedules.CosineDecay(1e-3, 500)),  # cosine to 0
    ... ])
    >>> round(float(sched(50)) * 1e3, 3), round(float(sched(300)) * 1e3, 3)
    (0.5, 1.0)

    References:
        - Loshchilov & Hutter, 2017, "SGDR", https://arxiv.org/abs/1608.03983
        - optax ``join_schedules``, https://optax.readthedocs.io/
    """

    def __init__(self, phases: Sequence, name: str = "Chain"):
        super().__init__()
        try:
            pairs = [tuple(p) for p in phases]
        except TypeError:
            fail("phases", "a sequence of (steps, schedule) pairs", phases)
        if not pairs or any(len(p) != 2 for p in pairs):
            fail("phases", "a non-empty sequence of (steps, schedule) pairs", phases)
        checked = []
        for k, (steps, schedule) in enumerate(pairs):
            if steps is None and k != len(pairs) - 1:
                fail("phases", "positive step counts (None only for the last phase)", phases)
            if steps is not None:
                check_positive("phases", steps, integer=True)
            checked.append((steps, check_schedule("phases", deserialize_schedule(schedule))))
        self.phases = checked
        self.name = name
        self._starts = [0]
        for steps, _ in checked[:-1]:
            self._starts.append(self._starts[-1] + int(steps))

    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        t = as_float_step(step)
        out = None
        for k in reversed(range(len(self.phases))):
            value = evaluate(self.phases[k][1], shift(step, self._starts[k]))
            if out is None:
                out = value
            else:
                out = ops.where(t < float(self._starts[k + 1]), value, out)
        return out

    def get_config(self) -> dict:
        return {
            "phases": [
                [None if n is None else int(n), serialize_schedule(s)] for n, s in self.phases
            ],
            "name": self.name,
        }
