"""Endless batch streams over arrays, ``tf.data``, ``PyDataset`` and Python iterators.

The first batch is fetched when the stream is built, so empty data is reported with a
``ValueError`` before any training step runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_recipes._validation import check_bool, check_non_negative, check_positive


def _is_tf_dataset(x: Any) -> bool:
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "as_numpy_iterator")


def _triple(batch: Any) -> tuple:
    if isinstance(batch, tuple | list) and 1 <= len(batch) <= 3:
        return keras.utils.unpack_x_y_sample_weight(tuple(batch))
    return batch, None, None


def _num_examples(x: Any) -> int:
    leaves = keras.tree.flatten(x)
    if not leaves:
        raise ValueError("Argument `x` must hold at least one array. Received: x=" + repr(x))
    return int(np.shape(leaves[0])[0])


class BatchStream:
    """Yields ``(x, y, sample_weight)`` batches forever, repeating the data as needed.

    Args:
        x: NumPy arrays (or a structure of them), a ``tf.data.Dataset``, a
            ``keras.utils.PyDataset``, or an iterator/generator of batches.
        y: targets for array input; must be ``None`` for the other kinds.
        batch_size: batch size for array input. Defaults to ``32``.
        shuffle: shuffle array input at every pass. Defaults to ``True``.
        seed: seed of that shuffle (a private generator: the global NumPy state is left
            alone). Defaults to ``0``.
        name: argument name used in error messages. Defaults to ``"x"``.
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        *,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        name: str = "x",
    ):
        check_positive("batch_size", batch_size, integer=True)
        check_bool("shuffle", shuffle)
        check_non_negative("seed", seed, integer=True)
        self._name = name
        self._kind = self._detect(x)
        if self._kind != "arrays" and y is not None:
            raise ValueError(
                f"Argument `y` must be None when `{name}` is a dataset or a generator "
                f"(the targets come with each batch). Received: y of type {type(y).__name__}"
            )
        self._x, self._y = x, y
        self._batch_size = int(batch_size)
        self._shuffle = bool(shuffle)
        self._rng = np.random.default_rng(int(seed))
        self._cache: list[tuple] = []
        self._position = 0
        self._source: Iterator | None = None
        self._started = False
        self._exhausted = False
        if self._kind == "arrays":
            self._n = _num_examples(x)
            if y is not None and _num_examples(y) != self._n:
                raise ValueError(
                    f"Arguments `{name}` and `y` must hold the same number of examples. "
                    f"Received: {self._n} and {_num_examples(y)}"
                )
            if self._n == 0:
                self._empty()
            self._order = np.arange(self._n)
        self._first = self._fetch()
        if self._first is None:
            self._empty()

    @staticmethod
    def _detect(x: Any) -> str:
        if _is_tf_dataset(x):
            return "tf_dataset"
        if isinstance(x, keras.utils.PyDataset):
            return "py_dataset"
        if isinstance(x, Iterator):
            return "iterator"
        return "arrays"

    def _empty(self) -> None:
        raise ValueError(
            f"Argument `{self._name}` must hold at least one batch. Received: empty data"
        )

    def _fetch(self) -> tuple | None:
        """The next batch, or ``None`` when a full pass over the data gave nothing."""
        kind = self._kind
        if kind == "arrays":
            # Full batches only (a short last batch would force a retrace); one pass holds
            # n // batch_size batches, or a single batch of n when n < batch_size.
            per_pass = max(1, self._n // self._batch_size)
            if self._position == 0 and self._shuffle:
                self._order = self._rng.permutation(self._n)
            start = self._position * self._batch_size
            idx = self._order[start:start + self._batch_size]
            self._position = (self._position + 1) % per_pass
            take = lambda a: np.asarray(a)[idx]  # noqa: E731
            y = None if self._y is None else keras.tree.map_structure(take, self._y)
            return keras.tree.map_structure(take, self._x), y, None
        if kind == "py_dataset":
            n = len(self._x)
            if n == 0:
                return None
            batch = self._x[self._position]
            self._position += 1
            if self._position >= n:
                self._position = 0
                self._x.on_epoch_end()
            return _triple(batch)
        if kind == "tf_dataset":
            for _ in range(2):  # on exhaustion, start one new pass
                if self._source is None:
                    self._source = self._x.as_numpy_iterator()
                try:
                    return _triple(next(self._source))
                except StopIteration:
                    self._source = None
                    if not self._started:
                        return None
            return None
        # A generator cannot be restarted: keep what it gave and cycle through it.
        if not self._exhausted:
            try:
                batch = _triple(next(self._x))
                self._cache.append(batch)
                return batch
            except StopIteration:
                self._exhausted = True
        if not self._cache:
            return None
        batch = self._cache[self._position % len(self._cache)]
        self._position += 1
        return batch

    def sample(self) -> tuple[Any, Any]:
        """``(x, y)`` to check before training: all the arrays for array input, the first
        batch for a dataset or a generator."""
        if self._kind == "arrays":
            return self._x, self._y
        return self._first[0], self._first[1]

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple:
        if not self._started:
            self._started = True
            return self._first
        batch = self._fetch()
        if batch is None:
            self._empty()
        return batch


# ---------------------------------------------------------------- checks before training
#: Names under which Keras accepts the sparse categorical cross-entropy in ``compile``.
_SPARSE_CE_NAMES = ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")


def _numeric_leaves(value: Any) -> list[np.ndarray]:
    leaves = [np.asarray(v) for v in keras.tree.flatten(value) if v is not None]
    return [a for a in leaves if a.dtype.kind in "iufb"]


def check_finite_values(name: str, value: Any) -> None:
    """Raise ``ValueError`` when ``value`` (arrays or a structure of them) holds NaN or Inf.

    A single non-finite input makes every loss of the range test NaN, so the test would
    only record NaN (or stop at once); the data are refused before any training step.
    """
    for array in _numeric_leaves(value):
        if array.dtype.kind != "f":
            continue
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"Argument `{name}` must hold finite values: with NaN or Inf in the data "
                "every loss of the range test is NaN. Received: "
                f"{int(bad.sum())} non-finite of {array.size} values (the first at index "
                f"{first}: {array[first]})"
            )


def _sparse_ce(model: Any) -> tuple[bool, int | None]:
    """Whether ``model`` is compiled with one sparse categorical cross-entropy, and its
    ``ignore_class``."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        return loss in _SPARSE_CE_NAMES, None
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return True, loss.get_config().get("ignore_class")
    return loss is keras.losses.sparse_categorical_crossentropy, None


def _output_units(model: Any) -> int | None:
    outputs = getattr(model, "outputs", None)
    if not isinstance(outputs, list | tuple) or len(outputs) != 1:
        return None
    shape = getattr(outputs[0], "shape", None)
    units = shape[-1] if shape else None
    return int(units) if isinstance(units, int) else None


def check_sparse_labels(model: Any, y: Any, name: str = "y") -> None:
    """Raise ``ValueError`` for class labels a sparse categorical loss cannot take.

    With ``loss="sparse_categorical_crossentropy"`` each label must be an integer from 0
    to ``units - 1``, where ``units`` is the size of the model's (single) output; a label
    out of that range fails inside the compiled step with a backend error (TensorFlow) or
    gives a wrong loss silently (JAX). Other losses, models with several outputs and models
    whose output size is not known are not checked.
    """
    sparse, ignore_class = _sparse_ce(model)
    units = _output_units(model) if sparse else None
    if units is None or y is None:
        return
    for labels in _numeric_leaves(y):
        labels = labels.reshape(-1)
        if ignore_class is not None:
            labels = labels[labels != ignore_class]
        if labels.size == 0:
            continue
        low, high = labels.min(), labels.max()
        if low < 0 or high >= units:
            bad = low if low < 0 else high
            raise ValueError(
                f"Argument `{name}` must hold class labels from 0 to {units - 1}: the model's "
                f"output has {units} units and its loss is the sparse categorical "
                f"cross-entropy. Received: a label {bad:g} (labels range from {low:g} to "
                f"{high:g})"
            )


def check_data(model: Any, stream: BatchStream, validation_data: Any = None) -> None:
    """Raise ``ValueError`` before training for data a probe cannot use: NaN or Inf in the
    inputs or targets, or class labels outside the model's output for a sparse categorical
    loss. Array input is checked whole; a dataset or a generator on its first batch."""
    x, y = stream.sample()
    check_finite_values("x", x)
    check_finite_values("y", y)
    check_sparse_labels(model, y)
    if isinstance(validation_data, tuple | list) and len(validation_data) >= 2:
        check_sparse_labels(model, validation_data[1], "validation_data")
