"""Private base class for callbacks that watch one logged quantity.

Keras's own ``MonitorCallback`` lives in ``keras.src`` (private), so this module provides the
same services with a public-API-only implementation:

- the direction of the monitored quantity (``mode`` = ``"auto"``, ``"min"`` or ``"max"``;
  ``"auto"`` reads the metric's declared direction on the model, then falls back on its name:
  accuracy-like names are maximised, loss/error-like names minimised);
- the improvement test with ``min_delta`` counted in absolute units or relative to the
  reference value (``min_delta_mode``);
- a warning that lists the available metrics when the monitored one is missing;
- per-run stop bookkeeping (``stop_reason``, ``stopped_epoch``) and in-memory best weights.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import numpy as np

from keras_recipes import _keras_private
from keras_recipes._print import print_msg
from keras_recipes._validation import check_non_negative, check_one_of, fail
from keras_recipes.callbacks import _guard
from keras_recipes.callbacks.stop_reason import StopReason

MODES = ("auto", "min", "max")
MIN_DELTA_MODES = ("absolute", "relative")

# Substrings of metric names whose direction is known. Checked after the metric's own
# declared direction, in this order: "max" names first so that e.g. "val_accuracy" wins over
# the generic "error" fragment that some names carry.
_MAX_TOKENS = (
    "acc",
    "auc",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "iou",
    "r2",
    "top_k",
    "sensitivity",
    "specificity",
    "true_positives",
    "true_negatives",
)
_MIN_TOKENS = (
    "loss",
    "error",
    "mse",
    "mae",
    "mape",
    "msle",
    "hinge",
    "crossentropy",
    "divergence",
    "false_positives",
    "false_negatives",
    "log_cosh",
    "logcosh",
    "poisson",
)


def infer_direction(name: str, model: Any = None) -> str | None:
    """``"min"``, ``"max"`` or ``None`` for a logged metric name.

    The metric's declared direction on ``model`` wins (Keras metrics carry it); otherwise the
    name decides: ``loss`` and error-like names are minimised, accuracy-like names maximised.
    """
    base = name.removeprefix("val_")
    if base == "loss" or base.endswith("_loss"):
        return "min"
    for metric in _iter_metrics(model):
        if getattr(metric, "name", None) == base:
            declared = _keras_private.metric_direction(metric)
            if declared == "up":
                return "max"
            if declared == "down":
                return "min"
    lowered = base.lower()
    if any(token in lowered for token in _MAX_TOKENS):
        return "max"
    if any(token in lowered for token in _MIN_TOKENS):
        return "min"
    return None


def _iter_metrics(model: Any):
    """All metric objects of a model, containers flattened."""
    stack = list(getattr(model, "metrics", None) or []) if model is not None else []
    seen = set()
    while stack:
        metric = stack.pop()
        if id(metric) in seen:
            continue
        seen.add(id(metric))
        yield metric
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            stack.extend(inner)


def to_float(value: Any) -> float:
    """A logged value (Python number, NumPy or backend scalar) as a Python float."""
    return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(()))


def warn_missing_metric(owner: Any, name: str, logs: dict, warned: set[str]) -> None:
    """Warn once per run (tracked in ``warned``) that ``name`` is not in ``logs``.

    The message is Keras's own (``EarlyStopping``, ``ReduceLROnPlateau``) and lists the
    names that are available, so a typo such as ``"lossx"`` is visible at once.
    """
    if name in warned:
        return
    warned.add(name)
    available = ", ".join(sorted(logs)) or "(none)"
    warnings.warn(
        f"{type(owner).__name__} is conditioned on metric `{name}` which is not "
        f"available. Available metrics are: {available}",
        stacklevel=4,
    )


def check_metric_name(name: str, value: Any) -> str:
    """``value`` if it is a non-empty string, else the Keras-style argument error."""
    if not isinstance(value, str) or not value:
        fail(name, "a non-empty metric name", value)
    return value


class ConfigCallback(keras.callbacks.Callback):
    """A callback whose config is its constructor arguments, read back from attributes.

    Subclasses name those arguments in ``config_keys``, in signature order: each one is
    stored under the same attribute name, so :meth:`get_config` and :meth:`from_config`
    round-trip without a hand-written dict per class.
    """

    config_keys: tuple[str, ...] = ()

    def get_config(self) -> dict:
        """The constructor arguments."""
        return {key: getattr(self, key) for key in self.config_keys}

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild the callback from :meth:`get_config`."""
        return cls(**config)


class StoppingCallback(ConfigCallback):
    """A callback that may stop training and says why.

    Holds ``verbose`` and the per-run stop record (``stop_reason``, ``stop_message``,
    ``stopped_epoch``), reset by :meth:`_reset_stop_state`, and :meth:`stop`, which fills
    the record, asks the model to stop and prints the message when ``verbose > 0``.
    Subclasses validate their own arguments first, then call ``super().__init__(verbose)``.
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__()
        check_non_negative("verbose", verbose, integer=True)
        self.verbose = int(verbose)
        self._reset_stop_state()

    def _reset_stop_state(self) -> None:
        self.stop_reason = StopReason.NOT_STOPPED
        self.stop_message = ""
        self.stopped_epoch = 0

    def stop(self, epoch: int, reason: StopReason, detail: str = "", suffix: str = "") -> None:
        """Ask the model to stop after ``epoch`` and record why.

        The message reads ``"Epoch {epoch + 1}: {reason.message} ({detail}){suffix}"``.
        """
        self.stopped_epoch = epoch
        self.stop_reason = reason
        self.stop_message = f"Epoch {epoch + 1}: {reason.message}" + (
            f" ({detail})" if detail else ""
        ) + suffix
        self.model.stop_training = True
        if self.verbose > 0:
            print_msg(f"{type(self).__name__}: {self.stop_message}.")


class MonitorCallback(StoppingCallback):
    """Base class: watch ``monitor`` in the epoch logs and decide what "better" means.

    Subclasses call :meth:`resolve_direction` lazily (the model's metrics are built only
    after the first step), :meth:`get_monitor_value` to read the value, and
    :meth:`is_improvement` to compare it with a reference.

    Args:
        monitor: Name of the logged quantity. Defaults to `"val_loss"`.
        mode: One of `{"auto", "min", "max"}`. Defaults to `"auto"`.
        min_delta: Smallest change that counts as an improvement. Defaults to `0`.
        min_delta_mode: `"absolute"` (the change must exceed `min_delta`) or `"relative"`
            (it must exceed `min_delta · |reference|`). Defaults to `"absolute"`.
        verbose: 0 (silent) or 1 (print a line when the callback acts). Defaults to `0`.
    """

    config_keys = ("monitor", "mode", "min_delta", "min_delta_mode", "verbose")

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        min_delta_mode: str = "absolute",
        verbose: int = 0,
    ) -> None:
        self.monitor = check_metric_name("monitor", monitor)
        self.mode = check_one_of("mode", mode, MODES)
        check_non_negative("min_delta", min_delta)
        self.min_delta = abs(float(min_delta))
        self.min_delta_mode = check_one_of("min_delta_mode", min_delta_mode, MIN_DELTA_MODES)
        super().__init__(verbose)
        self.monitor_op = None
        self.direction: str | None = None

    # ------------------------------------------------------------------ direction
    def resolve_direction(self) -> str:
        """Set and return ``self.direction`` (``"min"``/``"max"``) and ``self.monitor_op``.

        Raises:
            ValueError: if ``mode="auto"`` and the direction cannot be inferred.
        """
        if self.direction is None:
            direction = self.mode
            if direction == "auto":
                direction = infer_direction(self.monitor, _keras_private.callback_model(self))
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "cannot determine whether that metric should be maximized or minimized. "
                    "Pass `mode='max'` in order to monitor based on the highest metric value, "
                    "or pass `mode='min'` in order to use the lowest value."
                )
            self.direction = direction
            self.monitor_op = np.less if direction == "min" else np.greater
        return self.direction

    def is_better(self, value: float, reference: float | None) -> bool:
        """Strictly better than ``reference`` in the monitored direction (no delta)."""
        if reference is None:
            return True
        if self.resolve_direction() == "min":
            return value < reference
        return value > reference

    def is_improvement(self, value: float, reference: float | None) -> bool:
        """Better than ``reference`` by more than ``min_delta`` (absolute or relative).

        ``min``: ``value < reference − δ``; ``max``: ``value > reference + δ``, with
        ``δ = min_delta`` or ``δ = min_delta · |reference|``. A NaN is never an improvement.
        Computed as Keras's ``MonitorCallback._is_improvement`` computes it (``value + δ <
        reference``), so that a change of exactly ``δ`` rounds the same way as in Keras.
        """
        if reference is None:
            return not math.isnan(value)
        delta = self.min_delta
        if self.min_delta_mode == "relative":
            delta = self.min_delta * abs(reference)
        if self.resolve_direction() == "min":
            return value + delta < reference
        return value - delta > reference

    # ------------------------------------------------------------------ logs
    def get_monitor_value(self, logs: dict | None, name: str | None = None) -> float | None:
        """The monitored value as a float, or ``None`` with a warning listing what exists."""
        logs = logs or {}
        name = name or self.monitor
        value = logs.get(name)
        if value is None:
            warn_missing_metric(self, name, logs, self._warned)
            return None
        return to_float(value)

    # ------------------------------------------------------------------ run state
    def _reset_stop_state(self) -> None:
        super()._reset_stop_state()
        self._warned: set[str] = set()

    def on_train_begin(self, logs=None):
        self._reset_stop_state()
        _guard.check_at_train_begin(self)
        if self.mode == "auto":
            self.direction = None
            self.monitor_op = None


class BestWeightsMixin:
    """In-memory copy of the best epoch's weights, restored on demand.

    ``best_epoch`` (0-based) and ``best_value`` stay ``None`` until an epoch is measured:
    a monitored quantity that never appears in the logs leaves both ``None``. At the end
    of ``fit`` the kept weights are restored when the subclass's ``restore_best_weights``
    is true (subclasses with other rules override ``on_train_end``).
    """

    def on_train_end(self, logs=None):
        if self.restore_best_weights:
            self.restore_best_weights_now()

    def _reset_best_weights(self) -> None:
        self.best_weights = None
        self.best_epoch: int | None = None
        self.best_value: float | None = None

    def _remember(self, epoch: int, value: float | None, keep_weights: bool) -> None:
        self.best_epoch = epoch
        self.best_value = value
        if keep_weights:
            self.best_weights = self.model.get_weights()

    def restore_best_weights_now(self) -> bool:
        """Load the kept best weights into the model; returns whether it did."""
        if self.best_weights is None or self.model is None:
            return False
        if getattr(self, "verbose", 0) > 0:
            print_msg(
                f"{type(self).__name__}: restoring model weights from the end of the best "
                f"epoch: {self.best_epoch + 1}."
            )
        self.model.set_weights(self.best_weights)
        _guard.check_restored_epoch(self, self.best_epoch)
        return True
