"""PrecheltStopping: the GL, PQ and UP criteria of "Early Stopping — but when?" (1998)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_bool, check_one_of, check_positive, fail
from keras_recipes.callbacks._monitor import (
    BestWeightsMixin,
    MonitorCallback,
    check_metric_name,
)
from keras_recipes.callbacks.stop_reason import StopReason

CRITERIA = ("GL", "PQ", "UP")
DEFAULT_ALPHA = {"GL": 5.0, "PQ": 2.0}
DEFAULT_S = 3


def generalization_loss(val_error: float, best_val_error: float) -> float:
    """Prechelt's ``GL(t) = 100 · (E_va(t) / E_opt(t) − 1)``, in percent.

    ``E_opt(t)`` is the lowest validation error up to epoch ``t``. ``E_opt = 0`` gives ``0``
    when ``E_va = 0`` and ``inf`` otherwise.
    """
    if best_val_error == 0:
        return 0.0 if val_error == 0 else math.inf
    return 100.0 * (val_error / best_val_error - 1.0)


def training_progress(strip: Sequence[float]) -> float:
    """Prechelt's ``P_k(t) = 1000 · (Σ E_tr(t') / (k · min E_tr(t')) − 1)`` over a strip.

    ``strip`` holds the ``k`` training errors ``E_tr(t−k+1) … E_tr(t)``, in per mille. It is
    ``0`` when training made no progress within the strip and large while it still improves.
    """
    k = len(strip)
    low = min(strip)
    if low == 0:
        return 0.0 if sum(strip) == 0 else math.inf
    return 1000.0 * (sum(strip) / (k * low) - 1.0)


@keras_recipes_export
class PrecheltStopping(BestWeightsMixin, MonitorCallback):
    """Stop with one of Prechelt's classic criteria: GL_α, PQ_α or UP_s.

    Prechelt (1998) compared three families of stopping criteria on 12 problems and 1296
    runs; no mainstream library ships them. With the validation error ``E_va``, the
    training error ``E_tr``, epochs ``t = 1, 2, …`` and strips of ``k`` epochs ending at
    ``t = k, 2k, 3k, …``:

    - ``E_opt(t) = min_{t' ≤ t} E_va(t')``;
    - generalization loss ``GL(t) = 100 · (E_va(t) / E_opt(t) − 1)``;
      **GL_α** stops after the first epoch with ``GL(t) > α``;
    - training progress ``P_k(t) = 1000 · (Σ_{t'=t−k+1..t} E_tr(t') / (k · min E_tr) − 1)``;
      **PQ_α** stops after the first strip end with ``GL(t) / P_k(t) > α``;
    - **UP_s** stops after the strip end ``t`` when the validation error increased in ``s``
      successive strips: ``E_va(t − jk) > E_va(t − (j+1)k)`` for ``j = 0 … s−1`` (the
      validation error is read at strip ends only).

    Use GL when you want a simple "stop once validation got α % worse than its best"; PQ when
    training is still making quick progress early on and should be allowed to (it tolerates a
    higher GL while ``P_k`` is large); UP when the validation curve is noisy and only a
    sustained rise should stop training. As in the paper, the model reported is the one with
    the lowest validation error (``restore_best_weights=True``).

    The errors must be non-negative quantities to minimise (losses, error rates): ``GL`` and
    ``P_k`` are ratios.

    Args:
        criterion: One of `{"GL", "PQ", "UP"}`. Defaults to `"GL"`.
        alpha: Threshold of GL (percent) or PQ. `None` uses 5 for GL and 2 for PQ (middle of
            the ranges the paper tested, GL_1…GL_5 and PQ_0.5…PQ_3). Not used by UP.
            Defaults to `None`.
        strip_length: Strip length `k` in epochs. Defaults to `5` (the paper's choice).
        s: Number of successive strips of increase for UP. `None` uses 3 (the paper tested
            UP_2…UP_4). Not used by GL and PQ. Defaults to `None`.
        monitor: Validation error `E_va`. Defaults to `"val_loss"`.
        train_monitor: Training error `E_tr` (used by PQ). Defaults to `"loss"`.
        restore_best_weights: Restore the epoch with the lowest `E_va`. Defaults to `True`.
        verbose: 0 or 1. Defaults to `0`.

    Example:

    >>> from keras_recipes.callbacks import PrecheltStopping
    >>> stopper = PrecheltStopping("PQ", alpha=0.5, strip_length=5)
    >>> stopper.alpha
    0.5

    References:
        Prechelt, L. "Early Stopping — but when?" In Neural Networks: Tricks of the Trade,
        LNCS 1524, Springer, 1998, pp. 55-69. https://doi.org/10.1007/3-540-49430-8_3
    """

    config_keys = (
        "criterion",
        "alpha",
        "strip_length",
        "s",
        "monitor",
        "train_monitor",
        "restore_best_weights",
        "verbose",
    )

    def __init__(
        self,
        criterion: str = "GL",
        alpha: float | None = None,
        strip_length: int = 5,
        s: int | None = None,
        monitor: str = "val_loss",
        train_monitor: str = "loss",
        restore_best_weights: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(monitor=monitor, mode="min", verbose=verbose)
        self.criterion = check_one_of("criterion", criterion, CRITERIA)
        if criterion == "UP":
            if alpha is not None:
                fail("alpha", "None with criterion='UP' (UP uses `s`)", alpha)
            self.alpha = None
            self.s = int(check_positive("s", DEFAULT_S if s is None else s, integer=True))
        else:
            if s is not None:
                fail("s", f"None with criterion={criterion!r} (only UP uses `s`)", s)
            self.s = None
            alpha = DEFAULT_ALPHA[criterion] if alpha is None else alpha
            self.alpha = float(check_positive("alpha", alpha))
        self.strip_length = int(check_positive("strip_length", strip_length, integer=True))
        self.train_monitor = check_metric_name("train_monitor", train_monitor)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        self._reset_history()
        self._reset_best_weights()

    def _reset_history(self) -> None:
        self.val_errors: list[float] = []
        self.train_errors: list[float] = []
        self.gl_values: list[float] = []
        self.pq_values: list[float] = []
        self.increases = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._reset_history()
        self._reset_best_weights()

    def on_epoch_end(self, epoch, logs=None):
        val = self.get_monitor_value(logs)
        if val is None:
            return
        train = None
        if self.criterion == "PQ":
            train = self.get_monitor_value(logs, self.train_monitor)
            if train is None:
                return
        if not math.isfinite(val) or (train is not None and not math.isfinite(train)):
            self.stop(epoch, StopReason.NON_FINITE, f"{self.monitor}={val}")
            return
        self.val_errors.append(val)
        if train is not None:
            self.train_errors.append(train)
        if self.best_value is None or val < self.best_value:
            self._remember(epoch, val, self.restore_best_weights)
        gl = generalization_loss(val, self.best_value)
        self.gl_values.append(gl)
        t = len(self.val_errors)
        at_strip_end = t % self.strip_length == 0

        if self.criterion == "GL":
            if gl > self.alpha:
                self.stop(
                    epoch,
                    StopReason.GENERALIZATION_LOSS,
                    f"GL={gl:.4g} > alpha={self.alpha:g}",
                )
        elif self.criterion == "PQ":
            if at_strip_end:
                progress = training_progress(self.train_errors[-self.strip_length :])
                if progress == 0:
                    pq = math.inf if gl > 0 else 0.0
                else:
                    pq = gl / progress
                self.pq_values.append(pq)
                if pq > self.alpha:
                    self.stop(
                        epoch,
                        StopReason.PROGRESS_QUOTIENT,
                        f"GL={gl:.4g}, P_k={progress:.4g}, PQ={pq:.4g} > alpha={self.alpha:g}",
                    )
        elif at_strip_end and t >= 2 * self.strip_length:
            previous = self.val_errors[t - 1 - self.strip_length]
            self.increases = self.increases + 1 if val > previous else 0
            if self.increases >= self.s:
                self.stop(
                    epoch,
                    StopReason.SUCCESSIVE_INCREASES,
                    f"{self.increases} successive strips of increase, s={self.s}",
                )
