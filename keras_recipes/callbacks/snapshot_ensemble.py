"""Snapshot ensembles: one training run, one snapshot per learning-rate cycle."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_recipes import _distribute
from keras_recipes._validation import check_number, fail

_GROWTH_KEYS = ("t_mul", "t_mult")


def _cycle_from_schedule(schedule) -> tuple[float, float]:
    """``(first cycle length, growth factor)`` of a cyclic schedule, read from its config.

    Known forms: an attribute or config key ``cycle_steps``; Keras's ``CosineDecayRestarts``
    (``first_decay_steps``, ``t_mul``); SGDR-style ``period`` (or a numeric
    ``schedule_or_period``) with ``t_mult``; Smith's cyclic schedules with ``step_size``
    (a cycle is ``2 · step_size``).
    """
    config = {}
    if hasattr(schedule, "get_config"):
        try:
            config = dict(schedule.get_config())
        except (TypeError, ValueError, NotImplementedError):
            config = {}
    growth = 1.0
    for key in _GROWTH_KEYS:
        if isinstance(config.get(key), int | float):
            growth = float(config[key])
    attr = getattr(schedule, "cycle_steps", None)
    if isinstance(attr, int | float) and not isinstance(attr, bool):
        return float(attr), growth
    for key in ("cycle_steps", "first_decay_steps", "period", "schedule_or_period"):
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), growth
    if isinstance(config.get("step_size"), int | float):
        return 2.0 * float(config["step_size"]), growth
    raise ValueError(
        "Argument `schedule` must be a cyclic schedule with a known cycle length: Keras's "
        "CosineDecayRestarts, or a schedule with a `cycle_steps` attribute or a "
        "`cycle_steps`, `period` or `step_size` config entry. Pass `cycle_steps` instead. "
        f"Received: schedule={schedule!r}"
    )


class SnapshotEnsemble(keras.callbacks.Callback):
    """Keep a copy of the weights at the end of every learning-rate cycle.

    Use it with a cyclic schedule (cosine annealing with warm restarts, cyclic LR): each
    cycle ends at a low learning rate, in a different local minimum, and its snapshot is one
    member of an ensemble obtained from a single training run ("train 1, get M for free").
    After ``fit``, :meth:`ensemble` returns one Keras model that averages the snapshots'
    probabilities.

    Cycle ``i`` lasts ``T_i = T_0 · t_mul^i`` steps; snapshot ``i`` is taken when the
    optimizer's step count reaches ``B_i = ceil(T_0 · (1 + t_mul + ... + t_mul^i))``, that is,
    after the last (lowest-LR) step of the cycle and before the restart. Steps count from
    ``optimizer.iterations``, so a second ``fit`` call continues the same cycles. The
    snapshots (``model.get_weights()``: all weights, BatchNormalization statistics included)
    are held in memory.

    The step is counted in Python from the ``batch`` argument of ``on_train_batch_end``; no
    tensor is read per batch. With ``steps_per_execution > 1`` a snapshot is taken at the
    first callback after its boundary.

    Args:
        cycle_steps: length of a cycle in steps (optimizer updates). Give this or
            ``schedule``. Defaults to ``None``.
        schedule: the cyclic learning-rate schedule used by the optimizer, to read the cycle
            length from: ``keras.optimizers.schedules.CosineDecayRestarts`` (with ``t_mul``),
            or any schedule exposing ``cycle_steps``, or a ``period``/``step_size`` config
            entry. Defaults to ``None``.
        t_mul: growth factor of the cycle length with ``cycle_steps``, >= 1. Defaults to
            ``1.0``.
        max_snapshots: keep only the last ``max_snapshots`` snapshots (the paper's ``M``), or
            ``None`` for all. Defaults to ``None``.

    Attributes:
        snapshots: list of weight lists, oldest first.
        snapshot_steps: the optimizer step at which each snapshot was taken.

    Example:

    >>> import keras
    >>> from keras_recipes.callbacks import SnapshotEnsemble
    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits", flatten=True)
    >>> lr = keras.optimizers.schedules.CosineDecayRestarts(0.05, first_decay_steps=10, t_mul=1.0)
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
    >>> model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy")
    >>> snap = SnapshotEnsemble(schedule=lr)
    >>> _ = model.fit(ds.x[:320], ds.y[:320], batch_size=32, epochs=3, callbacks=[snap],
    ...               verbose=0)
    >>> snap.snapshot_steps
    [10, 20, 30]
    >>> ensemble = snap.ensemble()

    References:
        - Huang, Li, Pleiss, Liu, Hopcroft & Weinberger, 2017, "Snapshot Ensembles: Train 1,
          get M for free", https://arxiv.org/abs/1704.00109
        - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts",
          https://arxiv.org/abs/1608.03983
    """

    def __init__(
        self,
        cycle_steps: int | None = None,
        schedule=None,
        t_mul: float = 1.0,
        max_snapshots: int | None = None,
    ):
        super().__init__()
        if (cycle_steps is None) == (schedule is None):
            raise ValueError(
                "Pass exactly one of `cycle_steps` and `schedule`. "
                f"Received: cycle_steps={cycle_steps}, schedule={schedule!r}"
            )
        check_number("t_mul", t_mul, low=1)
        if cycle_steps is not None:
            check_number("cycle_steps", cycle_steps, low=1)
            first, growth = float(cycle_steps), float(t_mul)
        else:
            if not callable(schedule):
                fail("schedule", "a learning-rate schedule", schedule)
            first, growth = _cycle_from_schedule(schedule)
            if first < 1:
                fail("schedule", "a schedule whose cycle lasts at least one step", schedule)
            if growth < 1:
                fail("schedule", "a schedule whose cycles do not shrink (t_mul >= 1)", schedule)
        if max_snapshots is not None:
            check_number("max_snapshots", max_snapshots, low=1, integer=True)
        self.cycle_steps = cycle_steps
        self.schedule = schedule
        self.t_mul = t_mul
        self.max_snapshots = None if max_snapshots is None else int(max_snapshots)
        self._first = first
        self._growth = growth
        self.snapshots: list[list[np.ndarray]] = []
        self.snapshot_steps: list[int] = []

    def boundary(self, i: int) -> int:
        """The optimizer step count at which snapshot ``i`` (0-based) is taken."""
        if self._growth == 1.0:
            total = self._first * (i + 1)
        else:
            total = self._first * (self._growth ** (i + 1) - 1.0) / (self._growth - 1.0)
        return int(math.ceil(total - 1e-9))

    def _next_cycle(self, step: int) -> int:
        """Index of the first boundary strictly after ``step``."""
        i = 0
        while self.boundary(i) <= step:
            i += 1
        return i

    def on_train_begin(self, logs=None):
        self.snapshots = []
        self.snapshot_steps = []
        self._step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._epoch_start = self._step
        self._next = self._next_cycle(self._step)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._step

    def on_train_batch_end(self, batch, logs=None):
        self._step = self._epoch_start + int(batch) + 1
        if self._step >= self.boundary(self._next):
            self._take()
            self._next = self._next_cycle(self._step)

    def _take(self) -> None:
        # On JAX, fit keeps the variables outside the model between epochs; put them back.
        sync = getattr(self.model, "jax_state_sync", None)
        if callable(sync):
            sync()
        self.snapshots.append([np.array(w, copy=True) for w in self.model.get_weights()])
        self.snapshot_steps.append(self._step)
        if self.max_snapshots is not None and len(self.snapshots) > self.max_snapshots:
            del self.snapshots[0]
            del self.snapshot_steps[0]

    def ensemble(
        self, last: int | None = None, logits: bool = False, name: str = "snapshot_ensemble"
    ) -> keras.Model:
        """A Keras model that averages the snapshots' outputs (probabilities by default).

        Each snapshot is loaded into a clone of the trained model (named ``snapshot_i``);
        the clones are combined with :func:`keras_recipes.ensembles.average`. The trained
        model itself is not changed.

        Args:
            last: use only the last ``last`` snapshots; ``None`` for all. Defaults to
                ``None``.
            logits: the model outputs logits; average them (see ``average``). Defaults to
                ``False``.
            name: name of the ensemble model. Defaults to ``"snapshot_ensemble"``.

        Returns:
            An uncompiled ``keras.Model``.
        """
        from keras_recipes.ensembles import average

        if not self.snapshots:
            raise ValueError(
                "No snapshot was taken: train with this callback for at least one full cycle "
                f"(the first snapshot is taken at step {self.boundary(0)})."
            )
        chosen = self.snapshots
        if last is not None:
            check_number("last", last, low=1, integer=True)
            if last > len(self.snapshots):
                raise ValueError(f"Argument `last` must be <= the number of snapshots "
                                 f"({len(self.snapshots)}). Received: last={last}")
            chosen = self.snapshots[-int(last):]
        members = []
        # Built where the trained model lives (its tf.distribute scope, if any).
        with _distribute.scope(self.model):
            for i, weights in enumerate(chosen):
                clone = keras.models.clone_model(self.model)
                clone.set_weights(weights)
                clone.name = f"snapshot_{i}"
                members.append(clone)
            return average(members, logits=logits, name=name)
