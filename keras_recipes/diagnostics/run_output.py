"""`RunOutput`: the files a :class:`~keras_recipes.diagnostics.DiagnosticLogger` writes.

One run folder holds ``diagnostics.csv`` (appended, flushed and fsync-ed at every epoch),
``summary.json``, optional ``step_updates.csv``, ``first_batch.png`` and TensorBoard event
files under ``tensorboard/``.

A logger deep-copied for each KerasTuner trial (KerasTuner deep-copies every callback per
trial and execution) must not mix its trials in one folder: a copy writes into the first
free ``run_NNN`` subfolder of the original ``log_dir``, claimed atomically at the copy's first
``on_train_begin`` (so concurrent workers sharing a folder never claim the same one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

COLUMNS = ("epoch", "layer", "stat", "value")
STEP_COLUMNS = ("step", "layer", "stat", "value")


def claim_run_folder(base: str) -> str:
    """Create and return the first ``base/run_NNN`` folder that did not exist yet."""
    os.makedirs(base, exist_ok=True)
    k = 1
    while True:
        path = os.path.join(base, f"run_{k:03d}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            k += 1


class RunOutput:
    """Writes a run's CSV rows, summary, images and TensorBoard records.

    Use it through :class:`~keras_recipes.diagnostics.DiagnosticLogger`; every write
    failure becomes a ``RuntimeWarning`` passed to ``warn`` and training goes on.

    Args:
        folder: the run folder, or ``None`` to write nothing.
        warn: ``warn(what, exception)`` called on a failed write.
        append: keep an existing ``diagnostics.csv`` and append to it. Defaults to ``False``.
    """

    def __init__(self, folder: str | None, warn, *, append: bool = False):
        self.folder = folder
        self._warn = warn
        self.append = append
        self.tb_writer = None
        self._started: set[str] = set()

    def start(self) -> None:
        """Create the folder and start ``diagnostics.csv`` (unless appending to one)."""
        if self.folder is None:
            return
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, "diagnostics.csv")
        if not self.append or not os.path.exists(path) or os.path.getsize(path) == 0:
            self._header(path, COLUMNS)
        self._started.add("diagnostics.csv")

    def _header(self, path: str, columns: Iterable[str]) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(columns) + "\n")

    def rows(self, rows, name: str = "diagnostics.csv", columns=COLUMNS) -> None:
        """Append tidy rows to ``name`` and flush them to disk."""
        if self.folder is None or not rows:
            return
        try:
            path = os.path.join(self.folder, name)
            if name not in self._started:
                self._header(path, columns)
                self._started.add(name)
            with open(path, "a", encoding="utf-8") as fh:
                fh.writelines(f"{e},{layer},{s},{v!r}\n" for e, layer, s, v in rows)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            self._warn(f"writing {name}", exc)

    def summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json``."""
        if self.folder is None:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            with open(os.path.join(self.folder, "summary.json"), "w", encoding="utf-8") as fh:
                json.dump(summary, fh, indent=2, default=str)
        except OSError as exc:
            self._warn("writing summary.json", exc)

    def figure(self, fig, name: str) -> str | None:
        """Save a matplotlib figure as ``name`` (PNG); returns the path."""
        if self.folder is None:
            return None
        try:
            path = os.path.join(self.folder, name)
            fig.savefig(path, dpi=100)
            return path
        except (OSError, ValueError) as exc:
            self._warn(f"writing {name}", exc)
            return None

    # ------------------------------------------------------------------------ TensorBoard
    def open_tensorboard(self) -> None:
        """Open TensorFlow's summary writer on ``folder/tensorboard``."""
        try:
            import tensorflow as tf

            self.tb_writer = tf.summary.create_file_writer(
                os.path.join(self.folder, "tensorboard"))
        except Exception as exc:
            self.tb_writer = None
            self._warn("TensorBoard output (needs TensorFlow)", exc)

    def tensorboard_record(self, epoch: int, rows, weights=None) -> None:
        """Scalars of ``rows`` (histogram bins left out) and histograms of ``weights``."""
        if self.tb_writer is None:
            return
        try:
            import tensorflow as tf

            with self.tb_writer.as_default(step=epoch):
                for _, layer, stat, value in rows:
                    if not stat.startswith("hist_"):
                        tf.summary.scalar(f"{layer}/{stat}", value)
                for w in weights or ():
                    tf.summary.histogram(f"weights/{w.path}",
                                         keras.ops.convert_to_numpy(w.value))
            self.tb_writer.flush()
        except Exception as exc:
            self._warn("TensorBoard record", exc)

    def tensorboard_figure(self, fig, tag: str, step: int = 0) -> None:
        """A rendered matplotlib figure as a TensorBoard image."""
        if self.tb_writer is None:
            return
        try:
            import tensorflow as tf
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            rgba = np.asarray(canvas.buffer_rgba(), dtype="uint8")
            with self.tb_writer.as_default(step=step):
                tf.summary.image(tag, rgba[None, :, :, :3])
            self.tb_writer.flush()
        except Exception as exc:
            self._warn("TensorBoard image", exc)

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self.tb_writer is not None:
            try:
                self.tb_writer.close()
            finally:
                self.tb_writer = None

