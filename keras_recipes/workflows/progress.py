"""`StageProgress`: one progress line per stage: stage, epoch, metrics and ETA."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import keras

from keras_recipes._export import keras_recipes_export
from keras_recipes._validation import check_non_negative, check_number


def format_seconds(seconds: float) -> str:
    """``"42s"``, ``"3m05s"`` or ``"1h02m"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@keras_recipes_export
class StageProgress(keras.callbacks.Callback):
    """Print which stage runs, which epoch, the epoch's metrics and the ETA.

    Use it in a multi-stage workflow instead of Keras's progress bar: one short line per
    update, readable in a terminal and in a CI log. On a terminal the line is rewritten in
    place; elsewhere a new line is printed at most every ``min_interval`` seconds, plus the
    first and the last epoch. It reads only the epoch logs Keras already converted to Python
    numbers, so it adds no device-to-host synchronisation.

    The ETA is the mean epoch time so far times the epochs left:
    ``eta = (t_now - t_begin) / done * (epochs - done)``. Early stopping can end the stage
    sooner, so it is an upper estimate.

    Args:
        stage: number of the stage, ``>= 1``.
        num_stages: number of stages. Defaults to ``3``.
        name: short name of the stage. Defaults to ``""``.
        min_interval: seconds between printed lines when the output is not a terminal.
            Defaults to ``1.0``.
        stream: where to print. Defaults to ``None`` (``sys.stdout`` at train begin).

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.workflows import StageProgress
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", "mse")
    >>> x, y = np.zeros((8, 4)), np.zeros((8, 2))
    >>> _ = model.fit(x, y, epochs=2, verbose=0,
    ...               callbacks=[StageProgress(1, name="overfit", min_interval=0)])
    ... # doctest: +ELLIPSIS
    stage 1/3 overfit | epoch 1/2 | loss ...
    """

    def __init__(
        self,
        stage: int,
        num_stages: int = 3,
        name: str = "",
        min_interval: float = 1.0,
        stream: TextIO | None = None,
    ):
        super().__init__()
        self.stage = int(check_number("stage", stage, low=1, integer=True))
        self.num_stages = int(check_number("num_stages", num_stages, low=1, integer=True))
        if self.stage > self.num_stages:
            raise ValueError(
                "Argument `stage` must be <= `num_stages`. "
                f"Received: stage={stage}, num_stages={num_stages}"
            )
        self.name = str(name)
        self.min_interval = float(check_non_negative("min_interval", min_interval))
        self.stream = stream
        self.lines: list[str] = []

    def get_config(self) -> dict[str, Any]:
        return {"stage": self.stage, "num_stages": self.num_stages, "name": self.name,
                "min_interval": self.min_interval}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StageProgress:
        """Rebuild the callback from :meth:`get_config`."""
        return cls(**config)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._out = self.stream if self.stream is not None else sys.stdout
        self._tty = bool(getattr(self._out, "isatty", lambda: False)())
        self._begin = time.perf_counter()
        self._last_print = -float("inf")
        self._epochs = int((self.params or {}).get("epochs") or 0)
        self._done = 0
        self._pending: str | None = None
        self.lines = []

    def on_epoch_end(self, epoch, logs=None):
        self._done = epoch + 1
        now = time.perf_counter()
        elapsed = now - self._begin
        left = max(self._epochs - self._done, 0)
        eta = elapsed / self._done * left
        logs = {k: v for k, v in (logs or {}).items()
                if isinstance(v, int | float) and k != "learning_rate"}
        order = sorted(logs, key=lambda k: (k.startswith("val_"), not k.endswith("loss"), k))
        metrics = " ".join(f"{k} {logs[k]:.4g}" for k in order)
        head = f"stage {self.stage}/{self.num_stages}"
        if self.name:
            head += f" {self.name}"
        line = (f"{head} | epoch {self._done}/{self._epochs} | {metrics} | "
                f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}")
        self.lines.append(line)
        if self._tty or self._done == 1 or now - self._last_print >= self.min_interval:
            self._emit(line)
            self._last_print = now
            self._pending = None
        else:
            self._pending = line

    def on_train_end(self, logs=None):
        if self._pending is not None:
            self._emit(self._pending)
        if self._tty:
            self._out.write("\n")
        elapsed = time.perf_counter() - self._begin
        self._emit(f"stage {self.stage}/{self.num_stages} {self.name} finished: "
                   f"{self._done} epoch(s) in {format_seconds(elapsed)}".replace("  ", " "))
        if self._tty:
            self._out.write("\n")
        self._out.flush()

    def _emit(self, line: str) -> None:
        if self._tty:
            self._out.write("\r\x1b[K" + line)
        else:
            self._out.write(line + "\n")
        self._out.flush()
