"""`find_lr`: Smith's learning-rate range test that leaves the model untouched."""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import (
    check_bool,
    check_learning_rate,
    check_less,
    check_non_negative,
    check_number,
    check_one_of,
    check_positive,
    check_probability,
)
from keras_recipes.lr_finder._data import BatchStream, check_data, check_finite_values
from keras_recipes.lr_finder._probe import ProbeSession, check_compiled
from keras_recipes.lr_finder.result import LRFinderResult
from keras_recipes.lr_finder.suggestions import check_rule

MODES = ("exponential", "linear")


def lr_sweep(min_lr: float, max_lr: float, num_steps: int, mode: str = "exponential"):
    """The learning rate of each step of a range test.

    Formula: exponential ``lr_i = min_lr · (max_lr / min_lr)^(i / (n - 1))``; linear
    ``lr_i = min_lr + (max_lr - min_lr) · i / (n - 1)``, for ``i = 0 … n - 1``.

    Example:

    >>> from keras_recipes.lr_finder.find_lr import lr_sweep
    >>> [float(f"{v:.3g}") for v in lr_sweep(1e-3, 1.0, 4)]
    [0.001, 0.01, 0.1, 1.0]
    """
    t = np.arange(num_steps, dtype="float64") / (num_steps - 1)
    if mode == "linear":
        return min_lr + (max_lr - min_lr) * t
    return min_lr * (max_lr / min_lr) ** t


def check_range_test_args(
    *,
    min_lr: float,
    max_lr: float,
    num_steps: int,
    mode: str,
    batch_size: int,
    smoothing: float,
    divergence_threshold: float,
    suggest: str,
    shuffle: bool = True,
    seed: int = 0,
) -> None:
    """Raise ``ValueError`` for any bad range-test argument (no model or data needed)."""
    check_learning_rate("min_lr", min_lr)
    check_learning_rate("max_lr", max_lr)
    check_less("min_lr", min_lr, "max_lr", max_lr)
    check_number("num_steps", num_steps, low=10, integer=True)
    check_one_of("mode", mode, MODES)
    check_positive("batch_size", batch_size, integer=True)
    check_probability("smoothing", smoothing)
    check_number("divergence_threshold", divergence_threshold, low=1, low_inclusive=False)
    check_rule(suggest)
    check_bool("shuffle", shuffle)
    check_non_negative("seed", seed, integer=True)


def check_validation_data(validation_data: Any) -> None:
    """Raise ``ValueError`` unless ``validation_data`` is None, a dataset, or 2-3 arrays."""
    if validation_data is None:
        return
    if isinstance(validation_data, tuple | list):
        if not 2 <= len(validation_data) <= 3:
            raise ValueError(
                "Argument `validation_data` must be (x, y), (x, y, sample_weight) or a "
                f"dataset. Received: a sequence of length {len(validation_data)}"
            )
        leaves = keras.tree.flatten(validation_data[0])
        if not leaves or np.shape(leaves[0])[0] == 0:
            raise ValueError(
                "Argument `validation_data` must hold at least one example. Received: "
                "empty arrays"
            )
        check_finite_values("validation_data", validation_data[:2])


def find_lr(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exponential",
    batch_size: int = 32,
    smoothing: float = 0.98,
    divergence_threshold: float = 4.0,
    validation_data: Any = None,
    suggest: str = "combined",
    shuffle: bool = True,
    seed: int = 0,
) -> LRFinderResult:
    """Run a learning-rate range test on a compiled model, then put the model back.

    Use it before training to pick the learning rate (seeds 000, 003, 004: the learning
    rate matters most). The rate grows at every batch from ``min_lr`` to ``max_lr``; the
    loss falls, then explodes; a good rate lies on the descending slope.

    What it records: each batch's *own* loss, from Keras's compiled train step
    (``train_on_batch`` after resetting the metrics). ``logs["loss"]`` in a Keras 3
    callback is the running mean since the epoch began; a finder that reads it lags
    behind the curve and suggests rates that are too high.

    The curve is smoothed with a bias-corrected exponential moving average. The test stops
    early when the smoothed loss passes ``divergence_threshold`` × its best value (for a
    positive loss) or when a loss is NaN/Inf.

    It trains a private copy of the optimizer (built from its config, with a settable
    float learning rate, so it works when the optimizer holds a schedule) and restores,
    in a ``finally`` block, every model variable (weights, BatchNormalization statistics,
    seed-generator states), the metric variables, the optimizer and its variables,
    ``optimizer.iterations``, its learning rate or schedule object, and the compiled state
    (``model.optimizer``, ``train_function``...). This holds after success, after a
    divergence to NaN and after an exception or ``KeyboardInterrupt``. Nothing is written
    to disk.

    On several devices (a model built under a ``tf.distribute`` strategy such as
    ``MirroredStrategy``, or ``keras.distribution.DataParallel`` on JAX) the test runs
    unchanged and at the *global* batch size, as ``fit`` does: each step trains one batch
    of ``batch_size`` examples split over the ``R`` replicas (``batch_size / R`` each), the
    optimizer copy is created in the model's distribution scope, and the state is restored
    on every replica. The gradient of a step is the mean over the global batch, so the
    suggested rate is the rate for ``fit`` with that same global ``batch_size``, whatever
    ``R`` is. Keeping the per-replica batch fixed while adding replicas multiplies the
    global batch; then run the test again at the new global batch (or scale the rate
    linearly, Goyal et al. 2017, with a warm-up). Under ``MirroredStrategy``
    BatchNormalization normalises each replica's share of the batch, as in ``fit``; under
    JAX's ``DataParallel`` it normalises the global batch.

    Formula: step ``i`` uses ``lr_i`` from :func:`lr_sweep`; smoothing
    ``a_i = β·a_{i-1} + (1-β)·L_i``, ``S_i = a_i / (1 - β^(i+1))``; stop when
    ``S_i > divergence_threshold · min_{j≤i} S_j`` or ``L_i`` is not finite.

    Args:
        model: a compiled Keras model.
        x: NumPy arrays (or a structure of them), a ``tf.data.Dataset``, a
            ``keras.utils.PyDataset`` or an iterator/generator of ``(x, y)`` or
            ``(x, y, sample_weight)`` batches. Repeated when it has fewer batches than
            ``num_steps`` (a generator's batches are kept and replayed).
        y: targets when ``x`` is arrays; ``None`` otherwise. Defaults to ``None``.
        min_lr: first learning rate, > 0. Defaults to ``1e-7``.
        max_lr: last learning rate, > ``min_lr``. Defaults to ``10``.
        num_steps: number of batches (≥ 10). Defaults to ``100``.
        mode: ``"exponential"`` (even steps in log scale, the usual choice) or
            ``"linear"``. Defaults to ``"exponential"``.
        batch_size: global batch size for array input (split over the replicas on several
            devices; at least the number of replicas). Defaults to ``32``.
        smoothing: EMA factor β in ``[0, 1)``; ``0`` disables smoothing.
            Defaults to ``0.98``.
        divergence_threshold: stop when the smoothed loss exceeds this multiple of the best
            one; > 1. Defaults to ``4.0``.
        validation_data: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight)`` or a
            dataset; targets and weights may be dicts or lists for a multi-output model.
            When given, the loss recorded after each step is the loss over the whole
            validation set (Smith's variant: less noisy, costlier). Defaults to ``None``.
        suggest: rule for ``result.suggestion``: ``"combined"`` (the geometric mean of
            the ``minimum`` rule and the curve's knee, see
            :func:`~keras_recipes.lr_finder.suggestions.combined`), ``"valley"``,
            ``"steepest"`` or ``"minimum"`` (the rate at the lowest loss / 10). The default
            was chosen on ten public Keras example scripts, each run unchanged and with
            the suggestion as a one-cycle peak (``benchmarks/real_scripts/``): ``valley``
            lands on the flat start of the curve, 2–55× below the scripts' own rates.
            Defaults to ``"combined"``.
        shuffle: shuffle array input (a bool). Defaults to ``True``.
        seed: seed of that shuffle, an integer >= 0. Defaults to ``0``.

    Returns:
        An :class:`~keras_recipes.lr_finder.LRFinderResult`.

    Raises:
        ValueError: before any training, for ``min_lr >= max_lr``, a rate that float32
            cannot hold (``min_lr=1e-320`` is 0 in float32), ``num_steps < 10``, an
            uncompiled model, an unknown mode or rule, empty data, NaN or Inf in the data,
            or (with a sparse categorical loss) a label outside ``0 … units - 1`` of the
            model's output. A dataset or generator is checked on its first batch.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.lr_finder import find_lr
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 4)).astype("float32")
    >>> y = (x @ np.ones((4, 1))).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> result = find_lr(model, x, y, min_lr=1e-4, max_lr=10, num_steps=30)
    >>> list(result.history.columns)
    ['lr', 'loss', 'smoothed_loss']

    References:
        - Smith, "Cyclical Learning Rates for Training Neural Networks", 2017, §3.3.
          https://arxiv.org/abs/1506.01186
        - Smith, "A disciplined approach to neural network hyper-parameters: Part 1", 2018.
          https://arxiv.org/abs/1803.09820
        - Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
          https://arxiv.org/abs/1706.02677
    """
    check_range_test_args(
        min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, mode=mode, batch_size=batch_size,
        smoothing=smoothing, divergence_threshold=divergence_threshold, suggest=suggest,
        shuffle=shuffle, seed=seed,
    )
    check_compiled(model)
    check_validation_data(validation_data)
    stream = BatchStream(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
    check_data(model, stream, validation_data)
    lrs = lr_sweep(float(min_lr), float(max_lr), int(num_steps), mode)
    beta, threshold = float(smoothing), float(divergence_threshold)

    rows: list[tuple[float, float, float]] = []
    stop_reason = "completed"
    average, best = 0.0, math.inf
    first = next(stream)
    with ProbeSession(model, lrs[0], first) as session:
        batch = first
        for i, lr in enumerate(lrs):
            if i:
                batch = next(stream)
            session.set_lr(lr)
            loss = session.train_step(batch)
            if validation_data is not None and math.isfinite(loss):
                loss = session.evaluate(validation_data, batch_size)
            average = beta * average + (1.0 - beta) * loss
            smoothed = average / (1.0 - beta ** (i + 1))
            rows.append((float(lr), loss, smoothed))
            if not (math.isfinite(loss) and math.isfinite(smoothed)):
                stop_reason = "non_finite"
                break
            best = min(best, smoothed)
            if best > 0 and smoothed > threshold * best:
                stop_reason = "diverged"
                break
    history = pd.DataFrame(rows, columns=["lr", "loss", "smoothed_loss"])
    targets = y if validation_data is None else _targets_of(validation_data)
    result = LRFinderResult(
        history,
        rule=suggest,
        stop_reason=stop_reason,
        loss_kind="train" if validation_data is None else "validation",
        baseline_loss=constant_prediction_loss(model.loss, targets),
    )
    if result.inconclusive:
        warnings.warn(
            f"find_lr: the smoothed loss never fell below {result.baseline_loss:.4g}, the loss "
            "of the best constant prediction of the targets: the range test measured the "
            "network fitting the targets' offset, not learning. No suggestion: keep your "
            "learning rate, or standardise the targets and run the range test again.",
            RuntimeWarning, stacklevel=2)
    return result


#: The best constant prediction's loss for the regression losses: the mean minimises the
#: squared error (its loss is the variance), the median the absolute error.
_CONSTANT_PREDICTION_LOSS = {
    "mean_squared_error": lambda y: float(np.mean((y - y.mean(axis=0)) ** 2)),
    "mean_absolute_error": lambda y: float(np.mean(np.abs(y - np.median(y, axis=0)))),
}


def constant_prediction_loss(loss: Any, y: Any) -> float | None:
    """The loss of the best constant prediction of ``y`` under a regression ``loss``.

    Mean squared error: the variance of ``y`` (per output, averaged); mean absolute error:
    the mean absolute deviation from the median. ``None`` for any other loss, or targets
    that are not a finite numeric array.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.lr_finder.find_lr import constant_prediction_loss
    >>> constant_prediction_loss("mse", np.array([1.0, 2.0, 3.0, 6.0]))  # mean 3
    3.5
    >>> constant_prediction_loss("mae", np.array([1.0, 2.0, 3.0, 6.0]))  # median 2.5
    1.5
    >>> constant_prediction_loss("sparse_categorical_crossentropy", np.array([0, 1])) is None
    True
    """
    from keras_recipes.diagnostics.probe import loss_name

    rule = _CONSTANT_PREDICTION_LOSS.get(loss_name(loss) or "")
    if rule is None or y is None:
        return None
    try:
        values = np.asarray(y, dtype="float64")
    except (TypeError, ValueError):
        return None
    if values.ndim == 0 or len(values) == 0 or not np.all(np.isfinite(values)):
        return None
    return rule(values.reshape(len(values), -1))


def _targets_of(validation_data: Any) -> Any:
    return validation_data[1] if isinstance(validation_data, (tuple, list)) else None
