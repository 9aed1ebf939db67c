"""GeneralizationGapStopping: stop when validation drifts too far from training."""

from __future__ import annotations

import math

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_bool, check_non_negative, fail
from keras_recipes.callbacks._monitor import BestWeightsMixin, MonitorCallback
from keras_recipes.callbacks.stop_reason import StopReason


def generalization_gap(train: float, val: float, direction: str, relative: bool) -> float:
    """The gap between validation and training, oriented so that larger is worse.

    ``min`` metrics (losses): ``val − train``; ``max`` metrics (accuracy): ``train − val``.
    With ``relative=True`` the gap is divided by ``|train|`` (``val/train − 1`` for a
    positive loss). A zero training value gives ``inf`` for a positive gap, else ``0``.
    """
    gap = val - train if direction == "min" else train - val
    if not relative:
        return gap
    if train == 0:
        return math.inf if gap > 0 else 0.0
    return gap / abs(train)


@keras_recipes_export
class GeneralizationGapStopping(BestWeightsMixin, MonitorCallback):
    """Stop when the validation-minus-training gap exceeds a bound for `patience` epochs.

    The course notes (seed 002) describe early stopping as watching the gap between the
    training and the validation performance and stopping once it grows "too large". This
    callback does exactly that, on any metric logged for both sets (``metric`` and
    ``val_<metric>``).

    Use it when the training curve keeps improving while the validation curve flattens
    (overfitting), and you know how much gap you tolerate, e.g. a validation loss at most
    20 % above the training loss (``max_gap=0.2, relative=True``).

    Gap at epoch ``t`` (larger is worse):

    - minimised metric: ``g(t) = val(t) − train(t)``; maximised: ``g(t) = train(t) − val(t)``;
    - ``relative=True``: ``g(t) / |train(t)|``.

    Training stops at the first epoch where ``g > max_gap`` held for ``max(patience, 1)``
    consecutive epochs (so ``patience=0`` and ``1`` both stop at the first violation, as
    Keras's ``EarlyStopping`` treats them). A non-finite gap stops at once. The weights of
    the epoch with the best validation value are restored at the end when
    ``restore_best_weights``.

    Args:
        max_gap: Largest tolerated gap (absolute units, or a fraction with `relative`).
        metric: Training metric name; its validation twin is `"val_" + metric`. Defaults to
            `"loss"`.
        relative: Divide the gap by `|train|`. Defaults to `False`.
        patience: Consecutive violating epochs before stopping. Defaults to `0`.
        mode: One of `{"auto", "min", "max"}` for `metric`. Defaults to `"auto"`.
        restore_best_weights: Restore the epoch with the best `val_<metric>`. Defaults to
            `True`.
        verbose: 0 or 1. Defaults to `0`.

    Example:

    >>> from keras_recipes.callbacks import GeneralizationGapStopping
    >>> stopper = GeneralizationGapStopping(max_gap=0.2, relative=True, patience=2)
    >>> stopper.get_config()["max_gap"]
    0.2

    References:
        Prechelt, "Early Stopping — but when?", 1998:
        https://doi.org/10.1007/3-540-49430-8_3
    """

    config_keys = (
        "max_gap", "metric", "relative", "patience", "mode", "restore_best_weights", "verbose"
    )

    def __init__(
        self,
        max_gap: float,
        metric: str = "loss",
        relative: bool = False,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = True,
        verbose: int = 0,
    ) -> None:
        if not isinstance(metric, str) or not metric or metric.startswith("val_"):
            fail("metric", "a training metric name without the `val_` prefix", metric)
        super().__init__(monitor=f"val_{metric}", mode=mode, verbose=verbose)
        self.max_gap = float(check_non_negative("max_gap", max_gap))
        self.metric = metric
        self.relative = check_bool("relative", relative)
        self.patience = int(check_non_negative("patience", patience, integer=True))
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        self.wait = 0
        self.gaps: list[float] = []
        self._reset_best_weights()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.wait = 0
        self.gaps = []
        self._reset_best_weights()

    def on_epoch_end(self, epoch, logs=None):
        train = self.get_monitor_value(logs, self.metric)
        val = self.get_monitor_value(logs)
        if train is None or val is None:
            return
        direction = self.resolve_direction()
        gap = generalization_gap(train, val, direction, self.relative)
        self.gaps.append(gap)
        if math.isfinite(val) and self.is_improvement(val, self.best_value):
            self._remember(epoch, val, self.restore_best_weights)
        if not math.isfinite(gap):
            self.stop(epoch, StopReason.NON_FINITE, f"{self.metric}={train}, val={val}")
            return
        self.wait = self.wait + 1 if gap > self.max_gap else 0
        if self.wait >= max(self.patience, 1):
            kind = "relative gap" if self.relative else "gap"
            self.stop(
                epoch,
                StopReason.GENERALIZATION_GAP,
                f"{kind}={gap:.6g} > max_gap={self.max_gap:g} for {self.wait} epoch(s)",
            )
