"""The training loss every N iterations, raw and smoothed, written to a CSV file as it goes."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import keras

from keras_recipes._validation import check_number, check_probability

#: Columns of the CSV file.
COLUMNS = ("iteration", "epoch", "loss", "smoothed")


class IterationLoss(keras.callbacks.Callback):
    """Log the training loss every ``every`` iterations, with a debiased EMA of it.

    Use it to watch training between epoch ends, as seed 004's step 6 asks ("on peut
    afficher la loss toutes les N itérations; la sortie peut être bruitée, mais on peut la
    lisser, c.f. TensorBoard"): each row holds the mean training loss of the ``every``
    iterations since the previous row, and its exponential moving average with bias
    correction (seed 000's EMA, TensorBoard's smoothing):

    ``v_n = β·v_{n−1} + (1 − β)·loss_n``, ``v_0 = 0``, ``smoothed_n = v_n / (1 − β^n)``.

    The loss is the one ``fit`` reports: training mode, on the training batches, with the
    regularisation losses. Keras logs, at each batch end, the running mean since the epoch
    began; the mean over a window of iterations is recovered exactly from two of those
    means and the examples they cover, so a row needs one read of the loss every
    ``every`` iterations (and one at each epoch end), not one per batch. Rows are flushed
    to disk as they are written. A non-finite window loss is written as is and does not
    enter the average; the iterations after the last full window are not written.

    Args:
        path: the CSV file (columns ``iteration, epoch, loss, smoothed``; ``iteration``
            counts optimizer steps since the model was created).
        every: iterations per row, >= 1. Defaults to ``10``.
        smoothing: the EMA's β in ``[0, 1)``; 0 writes the raw loss again. Defaults to
            ``0.9``.
        append: add to an existing file (a run resumed from ``initial_epoch``), carrying
            on its average; ``False`` starts a new file. Defaults to ``False``.

    Attributes:
        rows: the rows written by this instance, as dicts.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.workflows.practical.iteration_loss import IterationLoss
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> x, y = np.ones((40, 3), "float32"), np.ones((40, 1), "float32")
    >>> log = IterationLoss("iteration_loss.csv", every=2)
    >>> _ = model.fit(x, y, batch_size=8, epochs=2, callbacks=[log], verbose=0)
    >>> [row["iteration"] for row in log.rows]
    [2, 4, 6, 8, 10]

    References:
        - TensorBoard's scalar smoothing (debiased EMA),
          https://github.com/tensorflow/tensorboard/blob/master/tensorboard/components/vz_line_chart2/line-chart.ts
        - Kingma & Ba, 2015, "Adam" (bias correction of an EMA started at 0),
          https://arxiv.org/abs/1412.6980
    """

    def __init__(self, path: str | os.PathLike, every: int = 10, smoothing: float = 0.9,
                 append: bool = False):
        super().__init__()
        check_number("every", every, low=1, integer=True)
        check_probability("smoothing", smoothing)
        self.path = Path(path)
        self.every = int(every)
        self.smoothing = float(smoothing)
        self.append = bool(append)
        self.rows: list[dict[str, float]] = []

    # --- state -------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.rows = []
        self._ema, self._n = 0.0, 0
        if self.append and self.path.is_file():
            self._replay()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(COLUMNS)
        self._iteration = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._window_sum = self._window_count = 0.0

    def _replay(self) -> None:
        """Carry on the average of the rows already in the file."""
        with open(self.path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    self._update(float(row["loss"]))
                except (KeyError, TypeError, ValueError):
                    continue

    def _update(self, loss: float) -> float:
        if not math.isfinite(loss):
            return loss
        self._n += 1
        self._ema = self.smoothing * self._ema + (1.0 - self.smoothing) * loss
        return self._ema / (1.0 - self.smoothing ** self._n)

    # --- per batch -----------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)
        self._sum_before = self._count_before = 0.0
        self._last_batch = int((self.params or {}).get("steps") or 0) - 1

    def on_train_batch_end(self, batch, logs=None):
        self._iteration += 1
        row_due = self._iteration % self.every == 0
        if not (row_due or batch == self._last_batch):
            return  # no read: the loss stays on the device
        self._read(batch, logs or {})
        if row_due and self._window_count > 0:
            self._write(self._window_sum / self._window_count)

    def _read(self, batch: int, logs: dict) -> None:
        """Add the iterations since the last read of this epoch to the window."""
        if "loss" not in logs:
            return
        mean = float(keras.ops.convert_to_numpy(logs["loss"]))
        count = self._examples_seen(batch)
        self._window_sum += mean * count - self._sum_before
        self._window_count += count - self._count_before
        self._sum_before, self._count_before = mean * count, count

    def _examples_seen(self, batch: int) -> float:
        """Examples the running mean covers: the loss tracker's count, else the batches."""
        from keras_recipes.diagnostics.model_facts import examples_seen

        try:
            seen = examples_seen(self.model)
        except Exception:  # noqa: BLE001 - an unusual model: equal weights per batch
            seen = None
        return float(seen) if seen else float(batch + 1)

    def _write(self, loss: float) -> None:
        smoothed = self._update(loss)
        row = {"iteration": self._iteration, "epoch": self._epoch + 1, "loss": loss,
               "smoothed": smoothed}
        self.rows.append(row)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row[c] for c in COLUMNS])
        self._window_sum = self._window_count = 0.0
