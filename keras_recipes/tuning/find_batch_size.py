"""Batch size: the seeds' guidance as a pure function, and a finder that measures throughput."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd

from keras_recipes._state import preserved_state
from keras_recipes._validation import check_number

#: Seed 001's typical minibatch sizes when the data set is not small.
TYPICAL_BATCH_SIZES = (16, 32, 64, 128, 256)
#: Seed 003: minibatches of 32 to 512 generalise much better than large ones.
GENERALISING_RANGE = (32, 512)
#: Words by which TensorFlow, JAX/XLA and PyTorch report an exhausted device memory.
OOM_MARKERS = ("resource_exhausted", "resourceexhausted", "out of memory", "outofmemory",
               "oom when allocating", "failed to allocate")


def suggest_batch_size(n_examples: int, *, small_data: int = 512, default: int = 32,
                       max_batch_size: int | None = None) -> int:
    """The batch size the seeds advise for a training set of ``n_examples``.

    Use it for a default before any measurement. Seed 001: when the data set is relatively
    small, use the whole set (classic gradient descent); otherwise a minibatch of 16, 32, 64,
    128 or 256, checking that the memory is not saturated. Seed 003: minibatches of 32–512
    generalise much better than large ones. Seed 000's example schedule uses 32. Together:
    full batch when the whole set is itself a minibatch that generalises (``n ≤ small_data``,
    512 by default, seed 003's upper bound), else ``default`` (32, in both ranges).

    Args:
        n_examples: number of training examples, ≥ 1.
        small_data: largest set trained full batch. Defaults to ``512``.
        default: batch size for larger sets; must be one of seed 001's sizes
            (16, 32, 64, 128, 256). Defaults to ``32``.
        max_batch_size: a memory bound, e.g. from :func:`find_batch_size`; the result is
            at most this. Defaults to ``None`` (no bound).

    Returns:
        The batch size, an int.

    Formula: ``b = n`` if ``n ≤ small_data`` else ``default``; then ``b = min(b, max)``.

    Example:

    >>> from keras_recipes.tuning import suggest_batch_size
    >>> suggest_batch_size(300), suggest_batch_size(1078)
    (300, 32)
    >>> suggest_batch_size(300, max_batch_size=64)
    64

    References:
        Masters & Luschi (2018), Revisiting Small Batch Training for Deep Neural Networks,
        https://arxiv.org/abs/1804.07612;
        Keskar et al. (2017), On Large-Batch Training for Deep Learning,
        https://arxiv.org/abs/1609.04836
    """
    check_number("n_examples", n_examples, low=1, integer=True)
    check_number("small_data", small_data, low=1, integer=True)
    if default not in TYPICAL_BATCH_SIZES:
        raise ValueError(f"Argument `default` must be one of {TYPICAL_BATCH_SIZES}. "
                         f"Received: default={default!r}")
    size = int(n_examples) if n_examples <= small_data else int(default)
    if max_batch_size is not None:
        check_number("max_batch_size", max_batch_size, low=1, integer=True)
        size = min(size, int(max_batch_size))
    return size


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` reports an exhausted device or host memory, on any backend.

    TensorFlow raises ``ResourceExhaustedError``, JAX/XLA an ``XlaRuntimeError`` whose
    message starts with ``RESOURCE_EXHAUSTED``, PyTorch ``OutOfMemoryError`` ("CUDA out of
    memory"); Python raises ``MemoryError``. The class names and messages are matched.

    Args:
        error: the exception.

    Returns:
        True when it is an out-of-memory error.

    Example:

    >>> from keras_recipes.tuning.find_batch_size import is_out_of_memory
    >>> is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"))
    True
    >>> is_out_of_memory(ValueError("shapes do not match"))
    False
    """
    if isinstance(error, MemoryError):
        return True
    names = " ".join(cls.__name__ for cls in type(error).__mro__)
    text = f"{names} {error}".lower()
    return any(marker in text for marker in OOM_MARKERS)


def choose_batch_size(sizes: Sequence[int], throughputs: Sequence[float | None],
                      min_gain: float = 0.05) -> int:
    """The largest batch size whose throughput still rose by ``min_gain`` over the previous.

    The decision of :func:`find_batch_size`, as a pure function of its measurements.
    Walking up the sizes, a size is kept while it fits (throughput not ``None``) and its
    examples per second exceed the previous kept size's by at least ``min_gain``.

    Args:
        sizes: increasing batch sizes.
        throughputs: examples per second of each; ``None`` where it did not fit in memory.
        min_gain: least relative gain that justifies the bigger batch. Defaults to ``0.05``.

    Returns:
        The chosen size. The smallest size when only it fits.

    Raises:
        ValueError: when not even the smallest size fits.

    Example:

    >>> from keras_recipes.tuning.find_batch_size import choose_batch_size
    >>> choose_batch_size([16, 32, 64, 128], [1000.0, 1900.0, 1950.0, None])  # +2.6 % at 64
    32
    """
    if len(sizes) != len(throughputs) or not sizes:
        raise ValueError("Arguments `sizes` and `throughputs` must be non-empty and of the same "
                         f"length. Received: {len(sizes)} sizes, {len(throughputs)} throughputs")
    if throughputs[0] is None:
        raise ValueError(f"Not even a batch of {sizes[0]} fits in memory. "
                         f"Received: throughputs={list(throughputs)}")
    best_size, best = sizes[0], float(throughputs[0])
    for size, value in zip(sizes[1:], throughputs[1:], strict=True):
        if value is None or not value >= best * (1 + min_gain):
            break
        best_size, best = size, float(value)
    return int(best_size)


@dataclasses.dataclass
class BatchSizeResult:
    """What :func:`find_batch_size` measured and chose.

    Attributes:
        batch_size: the chosen batch size.
        frame: one row per size tried: ``batch_size``, ``examples_per_second``,
            ``steps_per_second``, ``status`` (``"ok"``, ``"out of memory"``).
        max_fitting: the largest size that fitted in memory (not necessarily the fastest).
        stop_reason: why the search stopped.
    """

    batch_size: int
    frame: pd.DataFrame
    max_fitting: int
    stop_reason: str


def _leading_length(x) -> int:
    leaves = keras.tree.flatten(x)
    if not leaves:
        raise ValueError("Argument `x` must hold at least one array. Received: an empty structure")
    return int(np.shape(leaves[0])[0])


def find_batch_size(
    model: keras.Model,
    x,
    y=None,
    *,
    min_batch_size: int = 16,
    max_batch_size: int | None = None,
    steps: int = 3,
    min_gain: float = 0.05,
    timer: Callable[[], float] = time.perf_counter,
) -> BatchSizeResult:
    """Find the largest batch that fits in memory while the throughput keeps rising.

    Use it before a long training on a new device, to pick the batch size (within seed
    001's advice: "check that the CPU/GPU memory is not saturated"). Like Lightning's
    ``BatchSizeFinder`` in ``"power"`` mode, it tries powers of two from ``min_batch_size``
    up to the data size (and ``max_batch_size``), one ``train_on_batch`` to compile and
    ``steps`` timed ones each, and stops at the first size that runs out of memory or whose
    examples per second do not beat the previous size's by ``min_gain``. The model leaves as
    it came: weights, optimizer variables, iteration count, learning rate and compiled
    functions are restored in a ``finally`` block, after success or error.

    A larger batch is not better for generalisation (seed 003: 32–512 generalise better);
    combine the result with :func:`suggest_batch_size` through its ``max_batch_size``.

    Args:
        model: a compiled ``keras.Model``.
        x: training inputs (arrays, or a structure of arrays of the same length).
        y: training targets, or ``None``. Defaults to ``None``.
        min_batch_size: the first size tried, a power of two. Defaults to ``16``.
        max_batch_size: the largest size tried; ``None`` means the data size.
            Defaults to ``None``.
        steps: timed steps per size, after one untimed step. Defaults to ``3``.
        min_gain: least relative throughput gain to try the next size. Defaults to ``0.05``.
        timer: a clock in seconds. Defaults to ``time.perf_counter``.

    Returns:
        A :class:`BatchSizeResult`.

    Raises:
        ValueError: bad arguments, an uncompiled model, or not even ``min_batch_size``
            fits in memory.

    Formula: sizes ``b = min_batch_size·2^k ≤ min(n, max_batch_size)``; throughput
    ``b·steps/time``; keep doubling while ``throughput(2b) ≥ (1 + min_gain)·throughput(b)``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.tuning import find_batch_size
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> result = find_batch_size(model, np.ones((64, 8)), np.ones((64, 4)), steps=1)
    >>> result.batch_size in (16, 32, 64), list(result.frame["batch_size"])[0]
    (True, 16)

    References:
        Lightning, BatchSizeFinder,
        https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.BatchSizeFinder.html
    """
    if not isinstance(model, keras.Model):
        raise ValueError("Argument `model` must be a keras.Model. "
                         f"Received: {type(model).__name__}")
    if not getattr(model, "compiled", False):
        raise ValueError("Argument `model` must be compiled (find_batch_size trains it). "
                         f"Received: uncompiled model {model.name!r}")
    check_number("min_batch_size", min_batch_size, low=1, integer=True)
    if int(min_batch_size) & (int(min_batch_size) - 1):
        raise ValueError("Argument `min_batch_size` must be a power of two. "
                         f"Received: min_batch_size={min_batch_size}")
    if max_batch_size is not None:
        check_number("max_batch_size", max_batch_size, low=1, integer=True)
    check_number("steps", steps, low=1, integer=True)
    check_number("min_gain", min_gain, low=0)
    n = _leading_length(x)
    if y is not None and _leading_length(y) != n:
        raise ValueError("Arguments `x` and `y` must have the same length. "
                         f"Received: {n} and {_leading_length(y)} examples")
    bound = min(n, int(max_batch_size)) if max_batch_size is not None else n
    size = int(min_batch_size)
    if size > bound:  # a small data set: start at the largest power of two it holds
        size = 2 ** int(math.floor(math.log2(bound)))
    sizes: list[int] = []
    while size <= bound:
        sizes.append(size)
        size *= 2

    rows, tried, throughputs = [], [], []
    stop_reason = f"reached the largest size, {sizes[-1]} (data size {n})"
    with preserved_state(model):
        for b in sizes:
            xb = keras.tree.map_structure(lambda a, b=b: a[:b], x)
            yb = None if y is None else keras.tree.map_structure(lambda a, b=b: a[:b], y)
            try:
                model.train_on_batch(xb, yb)  # compile/trace for this shape, untimed
                start = timer()
                for _ in range(int(steps)):
                    model.train_on_batch(xb, yb)
                elapsed = max(timer() - start, 1e-12)
            except Exception as exc:  # only memory errors are swallowed
                if not is_out_of_memory(exc):
                    raise
                rows.append({"batch_size": b, "examples_per_second": float("nan"),
                             "steps_per_second": float("nan"), "status": "out of memory"})
                tried.append(b)
                throughputs.append(None)
                stop_reason = f"a batch of {b} ran out of memory ({type(exc).__name__})"
                break
            rate = b * int(steps) / elapsed
            rows.append({"batch_size": b, "examples_per_second": rate,
                         "steps_per_second": int(steps) / elapsed, "status": "ok"})
            tried.append(b)
            throughputs.append(rate)
            if len(throughputs) >= 2 and rate < throughputs[-2] * (1 + min_gain):
                stop_reason = (f"a batch of {b} did not raise the throughput by "
                               f"{min_gain:.0%} over {tried[-2]}")
                break
    fitting = [b for b, t in zip(tried, throughputs, strict=True) if t is not None]
    if not fitting:
        raise ValueError(f"Not even a batch of {tried[0]} fits in memory: lower "
                         f"`min_batch_size`. Received: min_batch_size={min_batch_size}")
    chosen = choose_batch_size(tried, throughputs, min_gain)
    return BatchSizeResult(chosen, pd.DataFrame(rows), max(fitting), stop_reason)
