"""KeepBest: keep the best epoch's weights in memory and put them back at the end."""

from __future__ import annotations

import contextlib
import math
import signal
import threading

from keras_recipes import _keras_private
from keras_recipes._export import keras_recipes_export
from keras_recipes._print import print_msg
from keras_recipes._validation import check_bool
from keras_recipes.callbacks._monitor import BestWeightsMixin, MonitorCallback
from keras_recipes.callbacks.stop_reason import StopReason


@keras_recipes_export
class KeepBest(BestWeightsMixin, MonitorCallback):
    """Never stop; restore the best epoch's weights when training ends or is interrupted.

    The course notes observe that modern practice keeps the best model rather than stopping
    early. ``KeepBest`` copies the weights in memory at every epoch that improves ``monitor``
    (no file, no checkpoint I/O) and sets them back:

    - at the end of ``fit`` (all epochs run, or another callback stopped training);
    - at Ctrl-C: with ``catch_interrupt=True`` (default) a SIGINT during ``fit`` is turned into
      a clean stop at the end of the current batch, so ``fit`` returns normally with the best
      weights restored (``stop_reason`` is ``INTERRUPTED``). A second Ctrl-C raises
      ``KeyboardInterrupt`` as usual. The handler is installed only from the main thread and
      only while ``fit`` runs;
    - at an exception: Keras does not call ``on_train_end`` when ``fit`` raises, so wrap the
      call in :meth:`restoring`, which restores the best weights and re-raises::

          keep = KeepBest("val_loss")
          with keep.restoring():
              model.fit(..., callbacks=[keep])

    Use it instead of ``EarlyStopping`` when you want to train for a fixed number of epochs
    (e.g. with a schedule) and still end on the best model.

    Improvement (``mode="min"``): ``v < best − δ`` with δ = ``min_delta`` or
    ``min_delta·|best|`` (``min_delta_mode="relative"``); non-finite values never improve.

    Args:
        monitor: Quantity to be monitored. Defaults to `"val_loss"`.
        mode: One of `{"auto", "min", "max"}`. Defaults to `"auto"`.
        min_delta: Minimum change that counts as an improvement. Defaults to `0`.
        min_delta_mode: `"absolute"` or `"relative"`. Defaults to `"absolute"`.
        catch_interrupt: Turn a Ctrl-C during `fit` into a clean stop with the best weights
            restored. Defaults to `True`.
        verbose: 0 or 1 (print when weights are restored). Defaults to `0`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import KeepBest
    >>> keep = KeepBest(monitor="loss")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 4)), np.zeros(8), epochs=3, verbose=0,
    ...                     callbacks=[keep])
    >>> keep.best_epoch in (0, 1, 2)
    True

    References:
        Prechelt, "Early Stopping — but when?", 1998 (train, then use the weights of the
        epoch with the lowest validation error): https://doi.org/10.1007/3-540-49430-8_3
    """

    config_keys = MonitorCallback.config_keys + ("catch_interrupt",)

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        min_delta_mode: str = "absolute",
        catch_interrupt: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            monitor=monitor,
            mode=mode,
            min_delta=min_delta,
            min_delta_mode=min_delta_mode,
            verbose=verbose,
        )
        self.catch_interrupt = check_bool("catch_interrupt", catch_interrupt)
        self._previous_handler = None
        self._handler_installed = False
        self._epoch = 0
        self.restored = False
        self._reset_best_weights()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._reset_best_weights()
        self.restored = False
        self._epoch = 0
        if self.catch_interrupt:
            self._install_handler()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or not math.isfinite(current):
            return
        self.resolve_direction()
        if self.is_improvement(current, self.best_value):
            self._remember(epoch, current, keep_weights=True)

    def on_train_end(self, logs=None):
        self._uninstall_handler()
        self.restore()

    def restore(self) -> bool:
        """Set the best weights back into the model now; returns whether there were any."""
        self.restored = self.restore_best_weights_now()
        return self.restored

    @contextlib.contextmanager
    def restoring(self):
        """Context manager: if the block raises, restore the best weights, then re-raise.

        Example:

        >>> from keras_recipes.callbacks import KeepBest
        >>> keep = KeepBest()
        >>> with keep.restoring():
        ...     pass
        """
        try:
            yield self
        except BaseException:
            self._uninstall_handler()
            if self.model is not None:
                self.restore()
            raise

    # ------------------------------------------------------------------ SIGINT
    def _install_handler(self) -> None:
        if self._handler_installed or threading.current_thread() is not threading.main_thread():
            return
        try:
            self._previous_handler = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)
        except (ValueError, OSError):
            return
        self._handler_installed = True

    def _uninstall_handler(self) -> None:
        if not self._handler_installed:
            return
        previous = self._previous_handler
        self._previous_handler = None
        self._handler_installed = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(
                signal.SIGINT, previous if previous is not None else signal.default_int_handler
            )

    def _on_sigint(self, signum, frame):
        if self.stop_reason is StopReason.INTERRUPTED:
            # Second Ctrl-C: give the user the usual KeyboardInterrupt.
            self._uninstall_handler()
            raise KeyboardInterrupt
        self.stop_reason = StopReason.INTERRUPTED
        self.stopped_epoch = self._epoch
        self.stop_message = f"Epoch {self._epoch + 1}: {StopReason.INTERRUPTED.message}"
        if self.verbose > 0:
            print_msg("KeepBest: interrupted; stopping at the end of this batch.")
        model = _keras_private.callback_model(self)  # no JAX state sync inside a signal handler
        if model is not None:
            model.stop_training = True
