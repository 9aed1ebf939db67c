"""EarlyStopping: a strict superset of ``keras.callbacks.EarlyStopping``.

A fork of Keras 3.15.1's ``keras/src/callbacks/early_stopping.py``
(https://github.com/keras-team/keras/blob/v3.15.1/keras/src/callbacks/early_stopping.py):
``on_train_begin``, ``on_epoch_end`` and ``on_train_end`` keep its decisions statement for
statement (the comments mark where this class adds to them), and
``tests/callbacks/test_early_stopping_keras.py`` runs Keras's own test scenarios against this
class and compares it decision by decision with the installed ``keras.callbacks.EarlyStopping``.
When Keras changes its class, compare the two files again and update the version here.
"""

from __future__ import annotations

import math

from keras_recipes._export import keras_recipes_export
from keras_recipes._print import print_msg
from keras_recipes._validation import check_bool, check_non_negative, check_number
from keras_recipes.callbacks._monitor import BestWeightsMixin, MonitorCallback
from keras_recipes.callbacks.stop_reason import StopReason


def _optional_number(name: str, value):
    if value is not None:
        check_number(name, value)
        return float(value)
    return None


@keras_recipes_export
class EarlyStopping(BestWeightsMixin, MonitorCallback):
    """Stop training when a monitored metric stops improving, reaches a target or diverges.

    It takes every argument of ``keras.callbacks.EarlyStopping`` with the same meaning and
    the same decisions (it follows Keras 3.15.1's code, and Keras's own test scenarios pass
    against it), and adds:

    - ``check_finite``: stop as soon as the monitored value is NaN or infinite, and restore
      the best weights (or the weights from before training when no epoch was finite);
    - ``stopping_threshold``: stop as soon as the value reaches a target;
    - ``divergence_threshold``: stop as soon as the value is worse than a bound;
    - ``min_delta_mode="relative"``: ``min_delta`` as a fraction of the best value;
    - a structured outcome after ``fit``: ``stop_reason`` (a :class:`StopReason`),
      ``stop_message``, ``best_epoch`` (0-based), ``best_value`` and ``stopped_epoch``
      (``best_epoch`` and ``best_value`` are ``None`` when no epoch was measured).

    A ``monitor`` missing from the logs warns once per run, listing the logged names, and
    the epoch is skipped, in every ``mode`` (Keras warns too); training is not stopped.

    ``restore_best_weights`` defaults to ``True`` (Keras: ``False``): the course notes'
    advice is to keep the best model, and a run stopped by patience otherwise ends with the
    weights of ``patience`` epochs of overfitting. The restore also happens when another
    callback (``TimeBudget``, ``NaNGuard``, ...) stopped training, and when training ran all
    its epochs.

    Use it on the validation loss of any supervised run; add ``divergence_threshold`` for
    sweeps where bad learning rates should fail fast.

    Decision at the end of epoch ``t`` (value ``v``, best so far ``b``, δ = ``min_delta``, or
    ``min_delta·|b|`` in relative mode), for ``mode="min"`` (``"max"`` mirrors it):

    - ``v`` not finite and ``check_finite`` → stop (``NON_FINITE``);
    - improvement iff ``v < b − δ``; ``wait`` is reset only if ``v`` also beats ``baseline``;
    - ``v <= stopping_threshold`` → stop (``THRESHOLD_REACHED``);
    - ``v > divergence_threshold`` → stop (``DIVERGED``);
    - otherwise ``wait ≥ patience`` and ``t > 0`` → stop (``PATIENCE_EXHAUSTED``, or
      ``BASELINE_NOT_MET`` when no epoch beat ``baseline``).

    Args:
        monitor: Quantity to be monitored. Defaults to `"val_loss"`.
        min_delta: Minimum change in the monitored quantity to qualify as an improvement.
            Defaults to `0`.
        patience: Number of epochs with no improvement after which training is stopped.
            Defaults to `0`.
        verbose: 0 (silent) or 1 (prints the stop reason and the restore). Defaults to `0`.
        mode: One of `{"auto", "min", "max"}`. `"auto"` uses the metric's declared
            direction, then its name (accuracy-like names are maximised). Defaults to
            `"auto"`.
        baseline: Value the monitored quantity must beat; the patience counter is reset only
            by epochs that beat it. Defaults to `None`.
        restore_best_weights: Restore the weights of the best epoch at the end of training.
            Defaults to `True`.
        start_from_epoch: Number of warm-up epochs that are not monitored. Defaults to `0`.
        check_finite: Stop when the monitored value is NaN or infinite. Defaults to `True`.
        stopping_threshold: Stop as soon as the value reaches this target (`<=` in min mode,
            `>=` in max mode). Defaults to `None`.
        divergence_threshold: Stop as soon as the value is worse than this (`>` in min mode,
            `<` in max mode). Defaults to `None`.
        min_delta_mode: `"absolute"` or `"relative"` (δ = `min_delta · |best|`). Defaults to
            `"absolute"`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import EarlyStopping
    >>> stopper = EarlyStopping(monitor="loss", patience=2, stopping_threshold=1e-9)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 4)), np.zeros(8), epochs=3, verbose=0,
    ...                     callbacks=[stopper])
    >>> stopper.stop_reason.value in ("not_stopped", "threshold_reached")
    True

    References:
        Prechelt, "Early Stopping — but when?", 1998:
        https://doi.org/10.1007/3-540-49430-8_3 ;
        Keras ``EarlyStopping``: https://keras.io/api/callbacks/early_stopping/ ;
        Lightning ``EarlyStopping`` (check_finite, stopping/divergence thresholds):
        https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.EarlyStopping.html
    """

    config_keys = (
        "monitor",
        "min_delta",
        "patience",
        "verbose",
        "mode",
        "baseline",
        "restore_best_weights",
        "start_from_epoch",
        "check_finite",
        "stopping_threshold",
        "divergence_threshold",
        "min_delta_mode",
    )

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = True,
        start_from_epoch: int = 0,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        min_delta_mode: str = "absolute",
    ) -> None:
        super().__init__(
            monitor=monitor,
            mode=mode,
            min_delta=min_delta,
            min_delta_mode=min_delta_mode,
            verbose=verbose,
        )
        self.patience = int(check_non_negative("patience", patience, integer=True))
        self.start_from_epoch = int(
            check_non_negative("start_from_epoch", start_from_epoch, integer=True)
        )
        self.baseline = _optional_number("baseline", baseline)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        self.check_finite = check_bool("check_finite", check_finite)
        self.stopping_threshold = _optional_number("stopping_threshold", stopping_threshold)
        self.divergence_threshold = _optional_number("divergence_threshold", divergence_threshold)
        if mode != "auto" and None not in (stopping_threshold, divergence_threshold):
            target, bound = self.stopping_threshold, self.divergence_threshold
            if (mode == "min" and not target < bound) or (mode == "max" and not target > bound):
                word = "<" if mode == "min" else ">"
                raise ValueError(
                    f"Argument `stopping_threshold` must be {word} `divergence_threshold` in "
                    f"mode={mode!r}. Received: stopping_threshold={stopping_threshold}, "
                    f"divergence_threshold={divergence_threshold}"
                )
        self.wait = 0
        self.best = None
        self._initial_weights = None
        self._reset_best_weights()

    def on_train_begin(self, logs=None):
        # Allow instances to be re-used across `model.fit()` calls.
        super().on_train_begin(logs)
        self.wait = 0
        self.best = None
        self._reset_best_weights()
        self._last_epoch = None
        self._initial_weights = None
        if self.restore_best_weights and self.check_finite and self.model is not None:
            # Kept until the first finite epoch: a NaN on epoch 0 then restores these.
            self._initial_weights = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        # Keras 3.15.1's `EarlyStopping.on_epoch_end`, statement for statement, except where
        # a comment says "added". Keras resolves the direction first, and so raises on a
        # monitor it cannot classify even when it is missing from the logs; here a missing
        # monitor warns (listing what is there) in every mode, and the direction is only
        # resolved once a value exists.
        current = self.get_monitor_value(logs)
        self._last_epoch = epoch  # added: the epoch another callback stopped at
        if current is None or epoch < self.start_from_epoch:
            return
        self.resolve_direction()
        if self.check_finite and not math.isfinite(current):  # added: check_finite
            self.stop(epoch, StopReason.NON_FINITE, f"{self.monitor}={current}")
            return
        self._initial_weights = None  # added: a finite epoch was seen
        if self.restore_best_weights and self.best_weights is None:
            # If best weights were never set, then the current weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        improved = self.is_improvement(current, self.best)
        if improved:
            self.best = current
            self._remember(epoch, current, self.restore_best_weights)
            # Only restart wait if we beat both the baseline and our previous best.
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            # Keras returns here; the two thresholds below (added) may stop on an
            # improving epoch too.

        if self.stopping_threshold is not None and self._reached(current):
            self.stop(
                epoch,
                StopReason.THRESHOLD_REACHED,
                f"{self.monitor}={current:.6g}, stopping_threshold={self.stopping_threshold:g}",
            )
            return
        if self.divergence_threshold is not None and self._diverged(current):
            self.stop(
                epoch,
                StopReason.DIVERGED,
                f"{self.monitor}={current:.6g}, "
                f"divergence_threshold={self.divergence_threshold:g}",
            )
            return
        if improved:
            return
        if self.wait >= self.patience and epoch > 0:  # Keras's rule; the reasons are added
            reason = StopReason.PATIENCE_EXHAUSTED
            if self.baseline is not None and not self.is_improvement(self.best, self.baseline):
                reason = StopReason.BASELINE_NOT_MET
            self.stop(
                epoch,
                reason,
                f"best {self.monitor}={self.best:.6g} at epoch {self.best_epoch + 1}",
            )

    def _reached(self, value: float) -> bool:
        if self.direction == "min":
            return value <= self.stopping_threshold
        return value >= self.stopping_threshold

    def _diverged(self, value: float) -> bool:
        if self.direction == "min":
            return value > self.divergence_threshold
        return value < self.divergence_threshold

    def on_train_end(self, logs=None):
        if self.stop_reason is StopReason.NOT_STOPPED and getattr(
            self.model, "stop_training", False
        ):
            self.stop_reason = StopReason.OTHER_CALLBACK
            if self._last_epoch is not None:
                self.stopped_epoch = self._last_epoch
            self.stop_message = f"Epoch {self.stopped_epoch + 1}: {self.stop_reason.message}"
        if not self.restore_best_weights:
            return
        if self.best_weights is not None:
            self.restore_best_weights_now()
        elif self._initial_weights is not None and self.stop_reason is StopReason.NON_FINITE:
            if self.verbose > 0:
                print_msg("EarlyStopping: no finite epoch; restoring the weights from before "
                          "fit.")
            self.model.set_weights(self._initial_weights)
        self._initial_weights = None
