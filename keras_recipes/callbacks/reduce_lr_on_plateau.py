"""Reduce the learning rate on a plateau, on top of a schedule, and export what was found."""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from keras_recipes._export import keras_recipes_export
from keras_recipes._print import print_msg
from keras_recipes._validation import (
    check_learning_rate,
    check_non_negative,
    check_number,
    check_one_of,
)
from keras_recipes.callbacks._monitor import ConfigCallback, check_metric_name
from keras_recipes.schedules import MultiStepDecay


def _to_float(value) -> float:
    return float(np.asarray(ops.convert_to_numpy(value)).reshape(()))


@keras_recipes_export(name="FlooredMultiStepDecay")
class _FlooredMultiStepDecay(MultiStepDecay):
    """``MultiStepDecay`` over a schedule, floored at ``min_lr`` from the first boundary on.

    ``lr(t) = S(t) · values[i(t)]`` before the first boundary (the schedule ``S`` as given),
    ``max(S(t) · values[i(t)], min_lr)`` from it on. Built by :class:`ReduceLROnPlateau`.

    Args:
        boundaries: as :class:`~keras_recipes.schedules.MultiStepDecay`.
        min_lr: the floor, > 0. Defaults to ``0.0`` (no floor).
        **kwargs: the other :class:`~keras_recipes.schedules.MultiStepDecay` arguments.

    Example:

    >>> import keras
    >>> base = keras.optimizers.schedules.CosineDecay(0.1, 100)
    >>> lr = _FlooredMultiStepDecay([10], values=[1.0, 0.5], initial_learning_rate=base,
    ...                             min_lr=0.01)
    >>> round(float(lr(99)), 4)
    0.01
    """

    def __init__(self, boundaries, min_lr: float = 0.0, **kwargs):
        super().__init__(boundaries, **kwargs)
        self.min_lr = float(check_learning_rate("min_lr", min_lr, allow_zero=True))

    def __call__(self, step):
        value = super().__call__(step)
        if not self.min_lr or not self._bounds:
            return value
        reduced = ops.cast(ops.convert_to_tensor(step), "float32") >= self._bounds[0]
        return ops.where(reduced, ops.maximum(value, float(self.min_lr)), value)

    def get_config(self) -> dict:
        return {**super().get_config(), "min_lr": self.min_lr}


@keras_recipes_export
class ReduceLROnPlateau(ConfigCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    Use it for the seeds' strategy #1: decide the decay epochs by watching for plateaus
    once, then replay the schedule exactly with :meth:`schedule` (a
    :class:`~keras_recipes.schedules.MultiStepDecay`). It is a superset of
    ``keras.callbacks.ReduceLROnPlateau`` (same arguments, same decisions, same
    ``"learning_rate"`` log entry) that also:

    - works when the optimizer's learning rate is a ``LearningRateSchedule``: the schedule is
      scaled, ``lr(t) = S(t) · m_i``, where ``m_i`` is the product of the reductions so
      far (Keras raises ``TypeError`` there). From the first reduction on, ``min_lr`` is a
      floor, ``lr(t) = max(S(t) · m_i, min_lr)``, so a decaying ``S`` never takes the rate
      below it (before any reduction ``S`` runs untouched). The scaled schedule is a
      ``MultiStepDecay`` over ``S``, so the model still saves to ``.keras``; each
      reduction rebuilds the train step once;
    - records every reduction as ``(epoch, step, new_lr)`` in :attr:`reductions`.

    Rule (as Keras): after ``patience`` epochs without ``monitor`` improving by more than
    ``min_delta``, ``lr ← max(lr · factor, min_lr)`` if ``lr > min_lr``, then wait
    ``cooldown`` epochs before counting again. The new rate applies from ``step``, the first
    step of the next epoch.

    Args:
        monitor: quantity to watch. Defaults to ``"val_loss"``.
        factor: multiplier of the learning rate, in ``(0, 1)``. Defaults to ``0.1``.
        patience: epochs without improvement before a reduction. Defaults to ``10``.
        verbose: 1 prints a line at each reduction. Defaults to ``0``.
        mode: ``"auto"``, ``"min"`` or ``"max"``; ``"auto"`` maximises names containing
            ``"acc"`` and minimises the rest, as Keras does. Defaults to ``"auto"``.
        min_delta: smallest change that counts as an improvement. Defaults to ``1e-4``.
        cooldown: epochs to wait after a reduction. Defaults to ``0``.
        min_lr: lower bound on the learning rate. Defaults to ``0.0``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import ReduceLROnPlateau
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> x, y = np.ones((32, 4), "float32"), np.ones((32, 1), "float32")
    >>> plateau = ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0)
    >>> _ = model.fit(x, y, batch_size=8, epochs=3, callbacks=[plateau], verbose=0)
    >>> [(e, s) for e, s, _ in plateau.reductions]
    [(1, 8), (2, 12)]
    >>> replay = plateau.schedule()  # MultiStepDecay([8, 12], values=[0.1, 0.01, 0.001])

    References:
        - Bengio, 2012, "Practical recommendations for gradient-based training of deep
          architectures", https://arxiv.org/abs/1206.5533
        - Keras ``ReduceLROnPlateau``,
          https://keras.io/api/callbacks/reduce_lr_on_plateau/
    """

    config_keys = (
        "monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown", "min_lr"
    )

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs,
    ):
        super().__init__()
        if kwargs:
            raise ValueError(f"Unrecognized keyword argument(s): {sorted(kwargs)}. "
                             f"Received: {kwargs}")
        check_metric_name("monitor", monitor)
        self.factor = float(check_number("factor", factor, low=0, low_inclusive=False, high=1,
                                         high_inclusive=False))
        self.patience = int(check_non_negative("patience", patience, integer=True))
        self.cooldown = int(check_non_negative("cooldown", cooldown, integer=True))
        self.min_delta = float(check_non_negative("min_delta", min_delta))
        self.min_lr = float(check_learning_rate("min_lr", min_lr, allow_zero=True))
        self.verbose = int(check_non_negative("verbose", verbose, integer=True))
        self.mode = check_one_of("mode", mode, ("auto", "min", "max"))
        self.monitor = monitor
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0
        self.reductions: list[tuple[int, int, float]] = []
        self._initial_lr: float | None = None
        self._base = None  # the optimizer's schedule, when it has one
        self._multipliers: list[float] = [1.0]

    def _improved(self, current: float) -> bool:
        if self.best is None:
            return True
        maximise = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        if maximise:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()
        optimizer = self.model.optimizer
        config = optimizer.get_config()["learning_rate"]
        if isinstance(config, dict):
            self._base = keras.optimizers.schedules.deserialize(config)
        self._initial_lr = _to_float(optimizer.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        lr = _to_float(optimizer.learning_rate)
        logs["learning_rate"] = lr
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"ReduceLROnPlateau is conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        current = _to_float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait < self.patience or lr <= np.float32(self.min_lr):
            return
        new_lr = max(lr * self.factor, float(self.min_lr))
        step = int(_to_float(optimizer.iterations))
        self._apply(optimizer, lr, new_lr, step)
        self.reductions.append((int(epoch), step, float(new_lr)))
        self.cooldown_counter = self.cooldown
        self.wait = 0
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")

    def _apply(self, optimizer, lr: float, new_lr: float, step: int) -> None:
        if self._base is None:
            optimizer.learning_rate = new_lr
            return
        self._multipliers.append(self._multipliers[-1] * new_lr / lr)
        optimizer.learning_rate = self._scaled([s for _, s, _ in self.reductions] + [step])
        self.model.make_train_function(force=True)

    def _scaled(self, boundaries: list[int]) -> MultiStepDecay:
        """``S(t) · m_i``, floored at ``min_lr`` from the first reduction on."""
        if not self.min_lr or not boundaries:
            return MultiStepDecay(boundaries, values=list(self._multipliers),
                                  initial_learning_rate=self._base)
        return _FlooredMultiStepDecay(boundaries, min_lr=self.min_lr,
                                      values=list(self._multipliers),
                                      initial_learning_rate=self._base)

    def schedule(self) -> MultiStepDecay:
        """The ``MultiStepDecay`` that replays this run's learning rates step by step.

        With a constant initial rate: ``MultiStepDecay(steps, values=[lr_0, lr_1, ...])``;
        with a schedule ``S``: ``MultiStepDecay(steps, values=[1, m_1, ...],
        initial_learning_rate=S)``, and when ``min_lr > 0`` and there was a reduction, the
        ``MultiStepDecay`` subclass that also floors it, ``max(S(t) · m_i, min_lr)`` from
        the first reduction on: the very schedule the optimizer ran with. Pass it as the
        ``learning_rate`` of a fresh optimizer.
        """
        if self._initial_lr is None:
            raise ValueError("ReduceLROnPlateau.schedule() needs a finished `fit` first. "
                             "Received: no training run")
        boundaries = [s for _, s, _ in self.reductions]
        if self._base is None:
            return MultiStepDecay(boundaries,
                                  values=[self._initial_lr] + [r for _, _, r in self.reductions])
        return self._scaled(boundaries)
