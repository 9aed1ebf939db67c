"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``).

The scripts' own folder is first on ``sys.path`` when they run, so they import this module
as ``_common``.
"""

from __future__ import annotations

import time

import keras
import numpy as np


class EpochTimer(keras.callbacks.Callback):
    """Wall and CPU time of each epoch, in seconds (``times`` and ``cpu``).

    Place it last in the callback list, so that its epoch end comes after the other
    callbacks' epoch-end work and includes it.
    """

    def on_train_begin(self, logs=None):
        self.times: list[float] = []
        self.cpu: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._wall)
        self.cpu.append(time.process_time() - self._cpu)


def jsonable(value):
    """``value`` with NumPy scalars as Python numbers, tuples as lists and keys as strings;
    anything else that JSON cannot hold becomes its ``str``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
