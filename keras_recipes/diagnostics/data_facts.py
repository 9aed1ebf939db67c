"""One-off facts about a data set: size, input statistics and class counts.

:class:`~keras_recipes.diagnostics.DiagnosticLogger` computes them once, at construction,
from its ``data`` and ``validation_data`` and keeps only the facts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Ratio max/min of class counts above which the classes are flagged as imbalanced.
IMBALANCE_RATIO = 3.0
#: Inputs are flagged "not normalised" beyond these bounds.
INPUT_ABS_MAX = 10.0
INPUT_STD_RANGE = (0.05, 5.0)
INPUT_ABS_MEAN = 3.0


def class_counts(y: np.ndarray) -> dict[int, int] | None:
    """Counts per class of integer labels or one-hot rows; ``None`` for continuous targets."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        if not np.all((y == 0) | (y == 1)):
            return None
        labels = y.argmax(axis=1)
    else:
        labels = y.reshape(-1)
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            return None
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            return None
        if labels.dtype.kind not in "biuf":
            return None
    values, counts = np.unique(labels.astype("int64"), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def data_facts(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Size, input statistics (with the "not normalised" flag) and class counts."""
    xf = np.asarray(x, dtype="float64")
    finite = xf[np.isfinite(xf)]
    stats = {
        "min": float(finite.min()) if finite.size else math.nan,
        "max": float(finite.max()) if finite.size else math.nan,
        "mean": float(finite.mean()) if finite.size else math.nan,
        "std": float(finite.std()) if finite.size else math.nan,
        "non_finite": int(xf.size - finite.size),
    }
    biggest = max(abs(stats["min"]), abs(stats["max"]))
    stats["normalised"] = bool(
        stats["non_finite"] == 0 and biggest <= INPUT_ABS_MAX
        and INPUT_STD_RANGE[0] <= stats["std"] <= INPUT_STD_RANGE[1]
        and abs(stats["mean"]) <= INPUT_ABS_MEAN
    )
    facts: dict[str, Any] = {"size": int(len(x)), "input_stats": stats}
    counts = class_counts(y)
    if counts is not None:
        ratio = max(counts.values()) / max(1, min(counts.values()))
        facts["class_counts"] = counts
        facts["imbalance_ratio"] = float(ratio)
        facts["imbalanced"] = bool(ratio > IMBALANCE_RATIO)
    return facts
