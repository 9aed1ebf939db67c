"""NaNGuard: stop at the first non-finite batch loss and put the last good weights back."""

from __future__ import annotations

import math

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_bool
from keras_recipes.callbacks._monitor import (
    StoppingCallback,
    check_metric_name,
    to_float,
    warn_missing_metric,
)
from keras_recipes.callbacks.stop_reason import StopReason


@keras_recipes_export
class NaNGuard(StoppingCallback):
    """Check the loss after every batch; on NaN/Inf restore the last good weights and stop.

    ``keras.callbacks.TerminateOnNaN`` stops training but leaves the NaN weights in the
    model. ``NaNGuard`` keeps an in-memory copy of the weights (and, with
    ``restore_optimizer``, of the optimizer variables) taken before training and at the end
    of every epoch whose logs are finite. When the loss of a batch is NaN or infinite it puts
    that copy back, stops training, and records ``stop_reason = NON_FINITE``,
    ``stopped_epoch`` and ``stopped_batch``.

    The check reads the loss after every batch: this is the point of the callback, and it
    costs one device-to-host transfer per step (it disables asynchronous callback dispatch
    on JAX). In ``on_train_batch_end`` Keras logs the running mean of the epoch, which turns
    non-finite on the first bad batch, so the first bad batch is caught. Validation values
    (``val_*``) are checked at the end of each epoch.

    Use it for runs at an aggressive learning rate, mixed precision, or any sweep where a
    divergence must leave a usable model behind.

    A ``monitor`` absent from the logs (a typo such as ``"lossx"``) is reported once per
    run with a warning that lists the available names, as Keras's ``EarlyStopping`` does;
    the guard then still checks the ``val_*`` values at each epoch end.

    Args:
        monitor: Logged value checked after each batch. Defaults to `"loss"`.
        restore_optimizer: Also restore the optimizer variables (moments, iteration count),
            so that training can resume from the good state. Defaults to `True`.
        verbose: 0 or 1 (print the stop reason). Defaults to `0`.

    Example:

    >>> from keras_recipes.callbacks import NaNGuard
    >>> guard = NaNGuard()
    >>> guard.stop_reason.value
    'not_stopped'

    References:
        Keras ``TerminateOnNaN``: https://keras.io/api/callbacks/terminate_on_nan/ ;
        Lightning ``EarlyStopping(check_finite=True)``:
        https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.EarlyStopping.html
    """

    config_keys = ("monitor", "restore_optimizer", "verbose")

    def __init__(
        self, monitor: str = "loss", restore_optimizer: bool = True, verbose: int = 0
    ) -> None:
        self.monitor = check_metric_name("monitor", monitor)
        self.restore_optimizer = check_bool("restore_optimizer", restore_optimizer)
        super().__init__(verbose)

    def _reset_stop_state(self) -> None:
        super()._reset_stop_state()
        self.stopped_batch = None
        self.good_epoch = None
        self.restored = False
        self._weights = None
        self._optimizer_values = None
        self._epoch = 0
        self._warned: set[str] = set()

    def on_train_begin(self, logs=None):
        self._reset_stop_state()
        self._snapshot()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_reason is not StopReason.NOT_STOPPED:
            return
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            # Validation values only reach the epoch logs; they are checked there.
            if not self.monitor.startswith("val_"):
                warn_missing_metric(self, self.monitor, logs, self._warned)
            return
        value = to_float(value)
        if not math.isfinite(value):
            self._trip(self._epoch, batch, f"{self.monitor}={value} at batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        if self.stop_reason is not StopReason.NOT_STOPPED:
            return
        logs = logs or {}
        if self.monitor not in logs:
            warn_missing_metric(self, self.monitor, logs, self._warned)
        for name in sorted(logs):
            if name == self.monitor or name.startswith("val_"):
                value = to_float(logs[name])
                if not math.isfinite(value):
                    self._trip(epoch, None, f"{name}={value} at the end of the epoch")
                    return
        self._snapshot()
        self.good_epoch = epoch

    def _snapshot(self) -> None:
        model = self.model
        if model is None:
            return
        self._weights = model.get_weights()
        self._optimizer_values = None
        optimizer = getattr(model, "optimizer", None)
        if self.restore_optimizer and optimizer is not None:
            self._optimizer_values = [
                keras.ops.convert_to_numpy(v) for v in optimizer.variables
            ]

    def _trip(self, epoch: int, batch: int | None, detail: str) -> None:
        self.stopped_batch = batch
        model = self.model
        if self._weights is not None:
            model.set_weights(self._weights)
            optimizer = getattr(model, "optimizer", None)
            values = self._optimizer_values
            if values is not None and optimizer is not None:
                variables = optimizer.variables
                if len(variables) == len(values):
                    for variable, value in zip(variables, values, strict=True):
                        variable.assign(value)
            self.restored = True
        where = "before training" if self.good_epoch is None else (
            f"at the end of epoch {self.good_epoch + 1}"
        )
        restored = f"; weights restored from {where}" if self.restored else ""
        self.stop(epoch, StopReason.NON_FINITE, detail, restored)
