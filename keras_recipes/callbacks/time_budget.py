"""TimeBudget: end training cleanly before a wall-clock budget runs out."""

from __future__ import annotations

import time

from keras_recipes import _distribute
from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_positive
from keras_recipes.callbacks._monitor import StoppingCallback
from keras_recipes.callbacks.stop_reason import StopReason


@keras_recipes_export
class TimeBudget(StoppingCallback):
    """Stop at an epoch boundary when the next epoch would exceed a time budget.

    At the end of each epoch the callback measures the epoch's duration (training and
    validation) and stops when ``elapsed + estimate > seconds``, where ``estimate`` is the
    duration of the last epoch (it follows the current speed and leaves out the first
    epoch's compilation once a second epoch has run). Training therefore ends with a whole
    number of epochs, so that ``EarlyStopping``/``KeepBest`` can restore the best weights and
    the logs stay complete; compare ``max_time`` in Lightning's ``Trainer``, which stops
    after the budget is already spent.

    Under ``tf.distribute.MultiWorkerMirroredStrategy`` every worker measures its own
    clock and all of them stop after the same epoch, as soon as one of them would overrun
    (the decision is all-reduced across the workers).

    Use it for jobs with a hard wall-clock limit (notebooks on shared machines, CI, a fixed
    budget per trial in a search).

    Args:
        seconds: Budget for the whole `fit` call, in seconds (> 0).
        safety_factor: Multiplies the estimate of the next epoch (>= 1 leaves margin).
            Defaults to `1.0`.
        verbose: 0 or 1 (print the stop reason). Defaults to `0`.

    Example:

    >>> from keras_recipes.callbacks import TimeBudget
    >>> budget = TimeBudget(seconds=3600)
    >>> budget.seconds
    3600.0

    References:
        Lightning ``Timer`` / ``Trainer(max_time=...)``:
        https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.Timer.html
    """

    config_keys = ("seconds", "safety_factor", "verbose")

    def __init__(self, seconds: float, safety_factor: float = 1.0, verbose: int = 0) -> None:
        self.seconds = float(check_positive("seconds", seconds))
        self.safety_factor = float(check_positive("safety_factor", safety_factor))
        self._clock = time.monotonic
        super().__init__(verbose)

    def _reset_stop_state(self) -> None:
        super()._reset_stop_state()
        self.epoch_times: list[float] = []
        self.elapsed = 0.0
        self._start = None
        self._epoch_start = None

    def on_train_begin(self, logs=None):
        self._reset_stop_state()
        self._start = self._clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self._clock()
        if self._start is None:
            self._start = now
        begin = self._epoch_start if self._epoch_start is not None else self._start
        self.epoch_times.append(now - begin)
        self.elapsed = now - self._start
        estimate = self.epoch_times[-1] * self.safety_factor
        # Each worker process has its own clock: the workers stop together when any of
        # them would overrun (a worker left training alone would wait forever).
        if _distribute.any_worker(self.elapsed + estimate > self.seconds, self.model):
            self.stop(
                epoch,
                StopReason.TIME_BUDGET,
                f"elapsed {self.elapsed:.1f} s + next epoch ~{estimate:.1f} s > {self.seconds:g} s",
            )
