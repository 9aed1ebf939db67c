"""Seed 000's strategy #1, automated: find the staircase schedule by reruns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_recipes._validation import check_number, received


@dataclasses.dataclass
class Strategy1Result:
    """What :func:`strategy1` found.

    Attributes:
        schedule: the kept staircase, a :class:`~keras_recipes.schedules.MultiStepDecay`
            over steps (a fresh optimizer with it as ``learning_rate`` reruns the best
            round).
        boundaries: its decay steps.
        rates: its learning rates, ``len(boundaries) + 1`` values.
        rounds: one dict per training run: ``boundaries`` (the fixed schedule it ran),
            ``best`` (best ``monitor`` value), ``best_epoch``, ``epochs_run`` and
            ``plateau_step`` (the step at which its plateau was found, or ``None``).
        stop_reason: why the search ended.
        model: the model of the kept round.
    """

    schedule: Any
    boundaries: list[int]
    rates: list[float]
    rounds: list[dict[str, Any]]
    stop_reason: str
    model: Any = None


class _PlateauAfter(keras.callbacks.Callback):
    """``plateau`` watches only the epochs that end at or after step ``start`` (the last
    boundary of the fixed schedule), and training stops at its first reduction."""

    def __init__(self, plateau, start: int):
        super().__init__()
        self.plateau, self.start = plateau, int(start)

    def set_model(self, model):
        super().set_model(model)
        self.plateau.set_model(model)

    def on_train_begin(self, logs=None):
        self.plateau.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step <= self.start:
            return
        self.plateau.on_epoch_end(epoch, logs)
        if self.plateau.reductions:
            self.model.stop_training = True


def strategy1(
    build: Callable[[], keras.Model],
    x: Any,
    y: Any,
    *,
    validation_data: tuple,
    learning_rate: float,
    factor: float = 0.1,
    patience: int = 5,
    epochs: int = 100,
    batch_size: int = 32,
    optimizer: Callable[[Any], keras.optimizers.Optimizer] | None = None,
    loss: Any = "sparse_categorical_crossentropy",
    monitor: str = "val_loss",
    min_delta: float = 0.0,
    max_rounds: int = 5,
    seed: int = 0,
    verbose: int = 0,
) -> Strategy1Result:
    """Find seed 000's staircase schedule: decay at each plateau, rerun, until it stops
    helping.

    Use it when a training schedule must be fixed in advance and reproducible (strategy
    #1 of seed 000: "ε₀ … dès que la perte stagne, on multiplie par β; on recommence"),
    rather than left to an online ``ReduceLROnPlateau``.

    Round 0 trains a fresh network (``build()`` after ``keras.utils.set_random_seed(seed)``)
    at the constant ``learning_rate`` with :class:`keras_recipes.callbacks.ReduceLROnPlateau`
    watching ``monitor``, and stops at the first plateau. Each next round reruns from
    scratch with the schedule that plateau exported
    (:meth:`~keras_recipes.callbacks.ReduceLROnPlateau.schedule`) as a *fixed*
    :class:`~keras_recipes.schedules.MultiStepDecay`, ``ε_i = learning_rate·factor^i``
    from the ``i``-th boundary on, and stops at its own next plateau after the last
    boundary. The search ends when a round's best ``monitor`` value does not beat the best
    so far by more than ``min_delta`` (that round's new step did not help: the schedule
    without it is kept), when a round finds no new plateau within ``epochs``, or after
    ``max_rounds`` rounds.

    Args:
        build: ``() -> uncompiled keras.Model``.
        x: training inputs.
        y: training targets.
        validation_data: ``(x_val, y_val)``, read by ``monitor``.
        learning_rate: ε₀, the first rate (e.g. the largest that does not diverge,
            :func:`keras_recipes.lr_finder.find_max_stable_lr`), > 0.
        factor: β in ``(0, 1)``; the notes suggest 0.1, 0.2 or 0.5. Defaults to ``0.1``.
        patience: epochs without improvement that make a plateau. Defaults to ``5``.
        epochs: most epochs of a round, >= 1. Defaults to ``100``.
        batch_size: batch size. Defaults to ``32``.
        optimizer: ``learning_rate (a schedule) -> optimizer``. Defaults to ``None``
            (``keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)``, the notes' example).
        loss: the compiled loss. Defaults to ``"sparse_categorical_crossentropy"``.
        monitor: the quantity watched. Defaults to ``"val_loss"``.
        min_delta: smallest gain of the best value that counts as help. Defaults to
            ``0.0``.
        max_rounds: most training runs, >= 1. Defaults to ``5``.
        seed: seed of every round's initialisation and shuffling. Defaults to ``0``.
        verbose: 1 prints one line per round. Defaults to ``0``.

    Returns:
        A :class:`Strategy1Result`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.workflows.strategy1 import strategy1
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 4)).astype("float32")
    >>> y = (x @ np.ones((4, 1)) + 0.5 * rng.normal(size=(256, 1))).astype("float32")
    >>> def build():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    ...     return model
    >>> found = strategy1(build, x[:192], y[:192], validation_data=(x[192:], y[192:]),
    ...                   learning_rate=0.05, patience=1, epochs=8, max_rounds=2,
    ...                   optimizer=lambda lr: keras.optimizers.SGD(lr), loss="mse")
    >>> len(found.rates) == len(found.boundaries) + 1
    True

    References:
        - Bengio, 2012, "Practical recommendations for gradient-based training of deep
          architectures", https://arxiv.org/abs/1206.5533
        - He et al., 2016, "Deep Residual Learning for Image Recognition" (×0.1 when the
          error plateaus), https://arxiv.org/abs/1512.03385
    """
    from keras_recipes.callbacks import ReduceLROnPlateau
    from keras_recipes.schedules import MultiStepDecay

    check_number("learning_rate", learning_rate, low=0, low_inclusive=False)
    check_number("factor", factor, low=0, high=1, low_inclusive=False, high_inclusive=False)
    check_number("patience", patience, low=0, integer=True)
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("min_delta", min_delta, low=0)
    check_number("max_rounds", max_rounds, low=1, integer=True)
    if not callable(build):
        raise ValueError(f"Argument `build` must be callable. {received(build=build)}")
    if not isinstance(validation_data, tuple | list) or len(validation_data) < 2:
        raise ValueError("Argument `validation_data` must be a tuple (x_val, y_val). "
                         f"{received(validation_data=type(validation_data).__name__)}")
    make_optimizer = optimizer or (lambda lr: keras.optimizers.SGD(
        lr, momentum=0.9, nesterov=True))
    maximise = "acc" in monitor

    def staircase(boundaries: list[int]):
        """The fixed schedule of a round: ε₀·β^i from the i-th boundary on."""
        if not boundaries:
            return float(learning_rate)
        return MultiStepDecay(list(boundaries), values=[
            float(learning_rate) * float(factor) ** i for i in range(len(boundaries) + 1)])

    boundaries: list[int] = []
    rounds: list[dict[str, Any]] = []
    kept: dict[str, Any] | None = None
    kept_model = None
    reason = f"max_rounds={max_rounds} reached"
    for _ in range(int(max_rounds)):
        schedule = staircase(boundaries)
        keras.utils.set_random_seed(int(seed))
        model = build()
        model.compile(optimizer=make_optimizer(schedule), loss=loss,
                      metrics=["accuracy"] if "acc" in monitor else [])
        plateau = ReduceLROnPlateau(monitor=monitor, factor=factor, patience=patience,
                                    min_delta=min_delta)
        history = model.fit(x, y, validation_data=tuple(validation_data), epochs=int(epochs),
                            batch_size=int(batch_size), verbose=0,
                            callbacks=[_PlateauAfter(plateau, boundaries[-1] if boundaries
                                                     else 0)])
        values = np.asarray(history.history.get(monitor, []), dtype="float64")
        if values.size == 0:
            raise ValueError(f"Argument `monitor` names no logged quantity. "
                             f"{received(monitor=monitor)}; logged: "
                             f"{sorted(history.history)}")
        best_index = int(np.nanargmax(values) if maximise else np.nanargmin(values))
        # The plateau's exported schedule: the fixed one, ×factor from its new boundary.
        step = (int(plateau.schedule().get_config()["boundaries"][-1])
                if plateau.reductions else None)
        row = {"boundaries": list(boundaries), "best": float(values[best_index]),
               "best_epoch": best_index, "epochs_run": int(values.size),
               "plateau_step": step}
        rounds.append(row)
        if verbose:
            print(f"strategy #1 round {len(rounds)}: boundaries {boundaries}, best {monitor} "
                  f"{row['best']:.4g}, plateau at step {step}")
        if kept is not None:
            gain = (row["best"] - kept["best"]) if maximise else (kept["best"] - row["best"])
            if not gain > min_delta:
                reason = (f"the step at {boundaries[-1]} did not improve the best {monitor} "
                          f"({row['best']:.4g} against {kept['best']:.4g})")
                break
        kept, kept_model = row, model
        if step is None:
            reason = f"no new plateau within {epochs} epochs"
            break
        boundaries = [*boundaries, int(step)]
    boundaries = list(kept["boundaries"])
    rates = [float(learning_rate) * float(factor) ** i for i in range(len(boundaries) + 1)]
    return Strategy1Result(MultiStepDecay(boundaries, values=rates), boundaries, rates,
                           rounds, reason, kept_model)

