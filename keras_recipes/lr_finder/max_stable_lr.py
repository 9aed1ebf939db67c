"""`find_max_stable_lr`: the seed's "largest ε0 that does not diverge" probe."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import check_learning_rate, check_number
from keras_recipes.lr_finder._data import BatchStream, check_data
from keras_recipes.lr_finder._probe import ProbeSession, check_compiled

#: What a candidate did, in the ``status`` column of the table.
STATUSES = {
    "ok": "the loss stayed finite, below the threshold, and ended lower than it began",
    "non_finite": "a loss was NaN or Inf",
    "exploded": "a loss passed divergence_threshold × the first loss",
    "no_decrease": "the final loss was not below the first loss",
}


class MaxStableLRResult:
    """The outcome of :func:`find_max_stable_lr`.

    Attributes:
        lr: the largest stable candidate, or ``None`` when none was stable.
        table: a DataFrame, one row per candidate (largest first): ``lr``, ``status``,
            ``first_loss``, ``final_loss``, ``max_loss``, ``steps_run``.

    Example:

    >>> import pandas as pd
    >>> from keras_recipes.lr_finder.max_stable_lr import MaxStableLRResult
    >>> table = pd.DataFrame({"lr": [1.0, 0.1], "status": ["non_finite", "ok"]})
    >>> MaxStableLRResult(0.1, table).lr
    0.1
    """

    def __init__(self, lr: float | None, table: pd.DataFrame):
        self.lr = lr
        self.table = table

    def __repr__(self) -> str:
        tried = ", ".join(f"{r.lr:g}→{r.status}" for r in self.table.itertuples())
        return f"MaxStableLRResult(lr={self.lr}, tried=[{tried}])"


def _final(losses: list[float], steps: int) -> float:
    tail = max(1, steps // 5)
    return float(np.mean(losses[-tail:]))


def find_max_stable_lr(
    model: keras.Model,
    x: Any,
    y: Any = None,
    candidates: Sequence[float] = (10, 1, 0.1, 0.01, 0.001),
    steps: int = 50,
    *,
    batch_size: int = 32,
    divergence_threshold: float = 4.0,
    shuffle: bool = True,
    seed: int = 0,
) -> MaxStableLRResult:
    """Train briefly at each candidate rate from the same start; keep the largest stable one.

    Use it for the seed's strategy for the initial learning rate ε0: "take roughly the
    largest ε0 that does not make J(θ) diverge" (10 → NaN, 1 → NaN, 0.1 → ok). It is
    coarser than :func:`~keras_recipes.lr_finder.find_lr` but reads like the seed and
    reports what each candidate did.

    Every trial starts from the model's weights and a fresh copy of its optimizer (built
    from its config with a constant learning rate), sees the same batches in the same
    order, and runs ``steps`` steps. The model, its optimizer and its compiled state are
    restored between trials and at the end, as by :func:`find_lr`.

    Formula: with ``L_0`` the first batch's loss (the same for every candidate, since each
    starts from the same state) and ``L_end`` the mean loss over the last ``steps // 5``
    steps, a candidate is ``"ok"`` when every loss is finite, ``max L ≤
    divergence_threshold · L_0`` and ``L_end < L_0``; else ``"non_finite"``,
    ``"exploded"`` or ``"no_decrease"``.

    Args:
        model: a compiled Keras model.
        x: arrays, a ``tf.data.Dataset``, a ``PyDataset`` or a generator (as in ``find_lr``).
        y: targets for array input. Defaults to ``None``.
        candidates: learning rates to try, > 0. Defaults to ``(10, 1, 0.1, 0.01, 0.001)``.
        steps: training steps per candidate, ≥ 2. Defaults to ``50``.
        batch_size: batch size for array input. Defaults to ``32``.
        divergence_threshold: a loss above this multiple of the first loss counts as
            divergence; > 1. Defaults to ``4.0``.
        shuffle: shuffle array input (the same order for every candidate), a bool.
            Defaults to ``True``.
        seed: seed of that shuffle, an integer >= 0. Defaults to ``0``.

    Returns:
        A :class:`MaxStableLRResult`; its ``lr`` is ``None`` (with a warning) when no
        candidate was stable.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.lr_finder import find_max_stable_lr
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(128, 4)).astype("float32")
    >>> y = (x @ np.ones((4, 1))).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> result = find_max_stable_lr(model, x, y, steps=20)
    >>> list(result.table.columns)
    ['lr', 'status', 'first_loss', 'final_loss', 'max_loss', 'steps_run']

    References:
        Bengio, "Practical recommendations for gradient-based training of deep
        architectures", 2012, §3.1.1 (the initial learning rate).
        https://arxiv.org/abs/1206.5533
    """
    if isinstance(candidates, str | bytes) or not hasattr(candidates, "__iter__"):
        candidates_list = []
    else:
        candidates_list = list(candidates)
    if not candidates_list:
        raise ValueError(
            "Argument `candidates` must be a non-empty sequence of learning rates. "
            f"Received: candidates={candidates!r}"
        )
    for value in candidates_list:
        check_learning_rate("candidates", value)
    values = sorted((float(c) for c in candidates_list), reverse=True)
    check_number("steps", steps, low=2, integer=True)
    check_number("divergence_threshold", divergence_threshold, low=1, low_inclusive=False)
    check_compiled(model)
    # Fetch the batches once (this also rejects empty data before any training): every
    # trial then sees the same batches in the same order, generators included.
    stream = BatchStream(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
    check_data(model, stream)
    batches = [next(stream) for _ in range(int(steps))]

    rows = []
    with ProbeSession(model, values[0], batches[0]) as session:
        for lr in values:
            session.reset()
            session.set_lr(lr)
            losses: list[float] = []
            status = "ok"
            for batch in batches:
                loss = session.train_step(batch)
                losses.append(loss)
                if not math.isfinite(loss):
                    status = "non_finite"
                    break
                if loss > divergence_threshold * losses[0] and losses[0] > 0:
                    status = "exploded"
                    break
            final = _final(losses, int(steps))
            if status == "ok" and not final < losses[0]:
                status = "no_decrease"
            rows.append({
                "lr": lr,
                "status": status,
                "first_loss": losses[0],
                "final_loss": final,
                "max_loss": float(np.max(losses)),
                "steps_run": len(losses),
            })
    table = pd.DataFrame(rows, columns=["lr", "status", "first_loss", "final_loss",
                                        "max_loss", "steps_run"])
    stable = table.loc[table["status"] == "ok", "lr"]
    if stable.empty:
        warnings.warn(
            "No candidate learning rate was stable; try smaller candidates. "
            f"Tried: {list(table['lr'])}",
            RuntimeWarning,
            stacklevel=2,
        )
        return MaxStableLRResult(None, table)
    return MaxStableLRResult(float(stable.max()), table)
