"""One-off facts about a data set: size, input statistics and class counts.

:class:`~keras_recipes.diagnostics.DiagnosticLogger` computes them once, at construction,
from its ``data`` and ``validation_data`` and keeps only the facts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_recipes.diagnostics.inputs import leaves, num_rows

#: Ratio max/min of class counts above which the classes are flagged as imbalanced.
IMBALANCE_RATIO = 3.0
#: Inputs are flagged "not normalised" beyond these bounds.
INPUT_ABS_MAX = 10.0
INPUT_STD_RANGE = (0.05, 5.0)
INPUT_ABS_MEAN = 3.0
#: Rows hashed per split to find examples shared between splits (the first ones).
HASHED_ROWS = 200_000


def row_hashes(x: Any) -> np.ndarray | None:
    """One 64-bit hash per example (all inputs of the row together), first HASHED_ROWS.

    Two examples with the same hash have, but for a hash collision (odds about n²/2⁶⁴),
    identical input bytes (splits of one array share its dtype). The hashes are only
    compared within one process. ``None`` when ``x`` has no numeric array.
    """
    arrays = [np.asarray(a) for a in leaves(x)]
    if not arrays or any(a.dtype.kind not in "biuf" or a.ndim < 1 for a in arrays):
        return None
    n = min(len(arrays[0]), HASHED_ROWS)
    flat = [np.ascontiguousarray(a[:n].reshape(n, -1)) for a in arrays]
    if len(flat) == 1:
        return np.fromiter((hash(r.tobytes()) for r in flat[0]), dtype="int64", count=n)
    return np.fromiter((hash(b"".join(a[i].tobytes() for a in flat)) for i in range(n)),
                       dtype="int64", count=n)


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


def input_stats(x: np.ndarray) -> dict[str, Any]:
    """min, max, mean, std, non-finite count and the "normalised" flag of one array."""
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
    return stats


def data_facts(x: Any, y: Any) -> dict[str, Any]:
    """Size, input statistics (with the "not normalised" flag), class counts, row hashes.

    ``x`` may be one array, a list/tuple or a dict of arrays (a multi-input model). Then
    ``input_stats`` covers every numeric input together, ``input_stats_per_input`` holds
    each one's, and the inputs count as normalised only when each one is. Class counts
    need a single target array.
    """
    arrays = leaves(x)
    numeric = [np.asarray(a) for a in arrays if np.asarray(a).dtype.kind in "biuf"]
    if not numeric:
        numeric = [np.zeros(0)]
    stats = input_stats(np.concatenate([a.reshape(-1) for a in numeric]))
    facts: dict[str, Any] = {"size": num_rows("x", x), "input_stats": stats,
                             "row_hashes": row_hashes(x)}
    if isinstance(x, (list, tuple, dict)):
        keys = sorted(x) if isinstance(x, dict) else range(len(x))
        per_input = {str(k): input_stats(x[k]) for k in keys
                     if x[k] is not None and np.asarray(x[k]).dtype.kind in "biuf"}
        facts["input_stats_per_input"] = per_input
        stats["normalised"] = bool(all(s["normalised"] for s in per_input.values()))
    counts = class_counts(y) if not isinstance(y, (list, tuple, dict)) else None
    if counts is not None:
        ratio = max(counts.values()) / max(1, min(counts.values()))
        facts["class_counts"] = counts
        facts["imbalance_ratio"] = float(ratio)
        facts["imbalanced"] = bool(ratio > IMBALANCE_RATIO)
    return facts


def shared_fraction(rows: np.ndarray | None, reference: np.ndarray | None) -> float | None:
    """Fraction of ``rows`` (hashes) found in ``reference``; ``None`` without both."""
    if rows is None or reference is None or len(rows) == 0:
        return None
    return float(np.isin(rows, reference).mean())


def summarise_data(facts: dict[str, Any], probe_x, probe_y, class_stats: bool | None,
                   classification: bool, note) -> dict[str, Any]:
    """The logger's data part of ``summary``: split sizes, class counts, input statistics.

    ``facts`` maps ``"train"``, ``"val"`` and ``"test"`` to :func:`data_facts` (or ``None``);
    ``note(message)`` reports class statistics that were asked for and cannot be given.
    Without train facts, input statistics come from the probe batch. ``val_in_train_fraction``
    (``test_in_train_fraction``) is the fraction of validation (test) examples whose inputs
    also appear in the training split.
    """
    out: dict[str, Any] = {}
    for key, split in facts.items():
        if split is None:
            out[f"{key}_size"] = None
            continue
        out[f"{key}_size"] = split["size"]
        if key == "train":
            out["input_stats"] = split["input_stats"]
            out["inputs_normalised"] = split["input_stats"]["normalised"]
            if "input_stats_per_input" in split:
                out["input_stats_per_input"] = split["input_stats_per_input"]
        if class_stats is False:
            continue
        if "class_counts" not in split or not classification:
            if class_stats is True:
                note(f"class statistics asked for, but the {key} targets or the model's "
                     "loss are not classification: class counts skipped")
            continue
        out[f"{key}_class_counts"] = split["class_counts"]
        if key == "train":
            out["imbalance_ratio"] = split["imbalance_ratio"]
            out["imbalanced"] = split["imbalanced"]
    train = facts.get("train")
    for key in ("val", "test"):
        split = facts.get(key)
        if train is None or split is None:
            continue
        shared = shared_fraction(split.get("row_hashes"), train.get("row_hashes"))
        if shared is not None:
            out[f"{key}_in_train_fraction"] = shared
    if facts.get("train") is None and probe_x is not None:
        probe = data_facts(probe_x, probe_y)
        out["input_stats"] = probe["input_stats"]
        out["inputs_normalised"] = probe["input_stats"]["normalised"]
        out["input_stats_source"] = "probe"
    return out
