"""`StepUpdates`: update statistics of every training step, kept on the device.

:class:`~keras_recipes.diagnostics.DiagnosticLogger` uses it when built with
``step_updates=True``. At each batch start the weights hold the result of the previous
step; one compiled function reduces ``ΔW = W − W_prev`` per weighted layer to its norm,
mean, variance and ratio ``||ΔW|| / ||W_prev||`` and takes a new device snapshot. The
results stay on the device until the epoch ends, when they are brought to the host in one
transfer: no per-batch host sync. The cost per step is one copy of the trainable weights
and a few reductions over them. On JAX, where ``fit`` keeps the weights outside the model
during an epoch, each step also calls ``model.jax_state_sync()``. The compiled function
depends only on which variables make up each layer and on their shapes, so models with the
same ones (the trials of a KerasTuner search) share it (a small least-recently-used cache).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict

import keras
import numpy as np

from keras_recipes.diagnostics.probe import variable_groups

STATS = ("update_norm", "update_mean", "update_var", "update_ratio")

#: Compiled functions by (backend, variable indices of each layer, variable shapes).
_FUNCTIONS: OrderedDict[tuple, object] = OrderedDict()
_LOCK = threading.Lock()
#: Most compiled functions kept.
CACHE_SIZE = 8


def _statistics(groups: tuple[tuple[int, ...], ...], current, previous):
    """Per layer (indices into the variables) the update's norm, mean, variance and ratio,
    and a copy of ``current`` (the next reference)."""
    rows, copies = [], [keras.ops.copy(v) for v in current]
    for ids in groups:
        d = [keras.ops.cast(current[i], "float32") - keras.ops.cast(previous[i], "float32")
             for i in ids]
        n = float(sum(int(np.prod(current[i].shape)) for i in ids))
        d_sq = sum(keras.ops.sum(keras.ops.square(t)) for t in d)
        mean = sum(keras.ops.sum(t) for t in d) / n
        w_prev = keras.ops.sqrt(sum(
            keras.ops.sum(keras.ops.square(keras.ops.cast(previous[i], "float32")))
            for i in ids))
        norm = keras.ops.sqrt(d_sq)
        rows.append(keras.ops.stack(
            [norm, mean, d_sq / n - keras.ops.square(mean), norm / (w_prev + 1e-12)]))
    return keras.ops.stack(rows), copies


def _function(groups: dict[str, list[int]], variables: list):
    """The compiled :func:`_statistics` for these layers and variable shapes (cached)."""
    ids = tuple(tuple(v) for v in groups.values())
    key = (keras.backend.backend(), ids,
           tuple((tuple(v.shape), str(v.dtype)) for v in variables))
    with _LOCK:
        fn = _FUNCTIONS.get(key)
        if fn is None:
            fn = _FUNCTIONS[key] = _compile(functools.partial(_statistics, ids))
            while len(_FUNCTIONS) > CACHE_SIZE:
                _FUNCTIONS.popitem(last=False)
        else:
            _FUNCTIONS.move_to_end(key)
    return fn


def _compile(fn):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


class StepUpdates:
    """Per-step update statistics of each weighted layer, transferred once per epoch.

    Args:
        model: the model being trained.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.variables = list(model.trainable_variables)
        self.groups = variable_groups(model, self.variables)
        self._fn = _function(self.groups, self.variables)
        self._previous = None
        self._pending: list[tuple[int, object]] = []

    def _current(self) -> list:
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()
        return [v.value for v in self.variables]

    def start(self) -> None:
        """Take the reference snapshot (at train begin)."""
        self._previous = [keras.ops.copy(v) for v in self._current()]
        self._pending = []

    def step(self, step: int) -> None:
        """Measure the update that led to training step ``step`` (1-based), on the device."""
        if self._previous is None or not self.groups:
            return
        stats, self._previous = self._fn(self._current(), self._previous)
        self._pending.append((int(step), stats))

    def collect(self) -> list[tuple[int, str, str, float]]:
        """Bring the pending statistics to the host: tidy rows ``(step, layer, stat, value)``."""
        if not self._pending:
            return []
        steps = [s for s, _ in self._pending]
        values = np.asarray(keras.ops.convert_to_numpy(
            keras.ops.stack([t for _, t in self._pending])))
        self._pending = []
        rows = []
        for k, step in enumerate(steps):
            for j, layer in enumerate(self.groups):
                rows.extend((step, layer, stat, float(values[k, j, i]))
                            for i, stat in enumerate(STATS))
        return rows
