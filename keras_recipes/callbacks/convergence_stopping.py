"""ConvergenceStopping: stop when the monitored curve has converged (seed-000 definition)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_number, check_positive
from keras_recipes.callbacks._monitor import MonitorCallback
from keras_recipes.callbacks.stop_reason import StopReason


def relative_decrease(values: Sequence[float], direction: str = "min") -> float:
    """Relative improvement of the least-squares line through ``values`` over the window.

    ``d = −slope · (w − 1) / |mean|`` for a minimised quantity (``+slope`` when maximised),
    where ``slope`` is the least-squares slope of ``values`` against ``0 … w−1``. Fitting a
    line makes the estimate robust to noise: a curve that only oscillates has ``d ≈ 0``.
    A zero mean divides by 1 instead.
    """
    v = np.asarray(values, dtype="float64")
    x = np.arange(len(v), dtype="float64")
    slope = float(np.sum((x - x.mean()) * (v - v.mean())) / np.sum((x - x.mean()) ** 2))
    scale = abs(float(v.mean())) or 1.0
    change = slope * (len(v) - 1) / scale
    return -change if direction == "min" else change


def relative_spread(values: Sequence[float]) -> float:
    """Coefficient of variation ``std(values) / |mean(values)|`` (population std)."""
    v = np.asarray(values, dtype="float64")
    return float(v.std() / (abs(float(v.mean())) or 1.0))


def is_oscillating(values: Sequence[float]) -> bool:
    """Whether successive differences change sign in at least half of the possible places."""
    diffs = np.diff(np.asarray(values, dtype="float64"))
    if len(diffs) < 2:
        return False
    changes = int(np.sum(diffs[1:] * diffs[:-1] < 0))
    return changes >= (len(diffs) - 1) / 2


@keras_recipes_export
class ConvergenceStopping(MonitorCallback):
    """Stop when the monitored value stops decreasing, or only oscillates with a small spread.

    Seed 000 defines convergence of gradient descent as "J stops decreasing" or "J oscillates
    around some value (small variance)". Over the last ``window`` epochs ``v_1 … v_w``:

    - **stopped decreasing** (``CONVERGED``): the relative decrease of the least-squares line,
      ``d = −slope · (w − 1) / |mean(v)|``, is below ``tolerance``;
    - **only oscillates** (``OSCILLATING``): the successive differences change sign in at least
      half of the places, and the relative spread ``std(v) / |mean(v)|`` is below
      ``oscillation_tolerance``.

    Use it on the training loss to end runs that no longer learn, e.g. the "overfit a tiny
    subset" stage of a staged workflow, or any run without a validation set. For validation
    curves, prefer :class:`EarlyStopping` or :class:`PrecheltStopping`.

    Args:
        monitor: Quantity to be monitored. Defaults to `"loss"`.
        window: Number of epochs `w` in the window (>= 2; the oscillation test needs 3).
            Defaults to `10`.
        tolerance: Smallest relative decrease over the window that counts as progress.
            Defaults to `1e-3`.
        oscillation_tolerance: Largest relative spread of an oscillating window that counts
            as converged. `None` uses `tolerance`. Defaults to `None`.
        mode: One of `{"auto", "min", "max"}`. Defaults to `"auto"`.
        verbose: 0 or 1. Defaults to `0`.

    Example:

    >>> from keras_recipes.callbacks import ConvergenceStopping
    >>> from keras_recipes.callbacks.convergence_stopping import relative_decrease
    >>> round(relative_decrease([1.0, 0.9, 0.8]), 6)
    0.222222
    >>> ConvergenceStopping(window=5, tolerance=0.01).window
    5

    References:
        Goodfellow, Bengio, Courville, "Deep Learning", 2016, §8.3 (convergence of SGD):
        https://www.deeplearningbook.org/contents/optimization.html
    """

    config_keys = ("monitor", "window", "tolerance", "oscillation_tolerance", "mode", "verbose")

    def __init__(
        self,
        monitor: str = "loss",
        window: int = 10,
        tolerance: float = 1e-3,
        oscillation_tolerance: float | None = None,
        mode: str = "auto",
        verbose: int = 0,
    ) -> None:
        super().__init__(monitor=monitor, mode=mode, verbose=verbose)
        self.window = int(check_number("window", window, low=2, integer=True))
        self.tolerance = float(check_positive("tolerance", tolerance))
        if oscillation_tolerance is not None:
            oscillation_tolerance = float(
                check_positive("oscillation_tolerance", oscillation_tolerance)
            )
        self.oscillation_tolerance = oscillation_tolerance
        self.values: list[float] = []
        self.decrease: float | None = None
        self.spread: float | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.values = []
        self.decrease = None
        self.spread = None

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None:
            return
        direction = self.resolve_direction()
        if not math.isfinite(current):
            self.stop(epoch, StopReason.NON_FINITE, f"{self.monitor}={current}")
            return
        self.values.append(current)
        if len(self.values) < self.window:
            return
        recent = self.values[-self.window :]
        self.decrease = relative_decrease(recent, direction)
        self.spread = relative_spread(recent)
        if self.decrease < self.tolerance:
            self.stop(
                epoch,
                StopReason.CONVERGED,
                f"relative decrease {self.decrease:.4g} < tolerance {self.tolerance:g}",
            )
            return
        limit = self.tolerance if self.oscillation_tolerance is None else (
            self.oscillation_tolerance
        )
        if self.spread < limit and is_oscillating(recent):
            self.stop(
                epoch,
                StopReason.OSCILLATING,
                f"relative spread {self.spread:.4g} < {limit:g}",
            )
