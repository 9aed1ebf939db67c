"""Checks of a data set before (and after) training: duplicates, leakage, labels, values."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd

from keras_recipes._validation import check_number, received
from keras_recipes.data import class_labels

_CHUNK = 4096


@dataclasses.dataclass
class DataReport:
    """What :func:`check_data` found. ``problems`` lists every flag in plain words.

    Attributes:
        splits: per split: ``n``, ``duplicates`` (extra copies of a row within the split),
            ``conflicting_labels`` (identical rows with different labels), ``nan`` and ``inf``
            (examples holding one), ``min``, ``max``, ``mean``, ``std`` of the finite values,
            ``not_normalised`` and ``imbalance`` (largest class count / smallest, ``inf``
            when a class is missing).
        leakage: per pair of splits: ``n_shared``, the examples of the second split that also
            occur, exactly, in the first.
        class_counts: examples of each class (rows) in each split (columns).
        problems: one sentence per problem found; empty when the data look clean.
    """

    splits: pd.DataFrame
    leakage: pd.DataFrame
    class_counts: pd.DataFrame
    problems: list[str]

    @property
    def ok(self) -> bool:
        """``True`` when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        head = "Data check: no problem found." if self.ok else "Data check found:\n" + "\n".join(
            f"  - {p}" for p in self.problems
        )
        return f"{head}\n\n{self.splits.to_string()}\n\n{self.leakage.to_string()}"


def _row_hashes(x: np.ndarray) -> np.ndarray:
    """One 16-byte digest per row of ``x``, equal for rows with equal values.

    Numeric rows are hashed as float64 (so ``1`` and ``1.0`` match) with ``-0.0`` made
    ``0.0``; the copy is made one chunk at a time.
    """
    flat = x.reshape(len(x), -1)
    out = np.empty(len(x), dtype="S16")
    numeric = flat.dtype.kind in "biuf"
    for start in range(0, len(flat), _CHUNK):
        chunk = flat[start:start + _CHUNK]
        if numeric:
            chunk = chunk.astype("float64") + 0.0
        else:
            chunk = chunk.astype(str)
        chunk = np.ascontiguousarray(chunk)
        for i, row in enumerate(chunk):
            out[start + i] = hashlib.blake2b(row.tobytes(), digest_size=16).digest()
    return out


def _value_stats(x: np.ndarray) -> dict:
    flat = x.reshape(len(x), -1)
    if flat.dtype.kind not in "biuf":
        return {"nan": 0, "inf": 0, "min": np.nan, "max": np.nan, "mean": np.nan,
                "std": np.nan, "not_normalised": False}
    values = flat.astype("float64") if flat.dtype.kind != "f" else flat
    nan_rows = int(np.isnan(values).any(axis=1).sum())
    inf_rows = int(np.isinf(values).any(axis=1).sum())
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        stats = dict.fromkeys(("min", "max", "mean", "std"), np.nan)
    else:
        stats = {"min": float(finite.min()), "max": float(finite.max()),
                 "mean": float(finite.mean()), "std": float(finite.std())}
    not_normalised = bool(finite.size) and (abs(stats["mean"]) > 1.0 or stats["std"] > 3.0)
    return {"nan": nan_rows, "inf": inf_rows, **stats, "not_normalised": not_normalised}


def _check_pair(name: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"Arguments `x_{name}` and `y_{name}` must be arrays with a batch axis. "
                         + received(**{f"x_{name}_shape": x.shape, f"y_{name}_shape": y.shape}))
    if len(x) != len(y):
        raise ValueError(
            f"Arguments `x_{name}` and `y_{name}` must have the same length. "
            + received(**{f"len_x_{name}": len(x), f"len_y_{name}": len(y)})
        )
    if len(x) == 0:
        raise ValueError(f"Arguments `x_{name}` and `y_{name}` are empty. "
                         f"Received: len(x_{name})=0")
    labels = class_labels(y)
    if labels is None:
        raise ValueError(
            f"Argument `y_{name}` must hold class labels (integers or one-hot rows). "
            f"Received: y_{name}.dtype={y.dtype}, y_{name}.shape={y.shape}"
        )
    return x, labels


def check_data(
    x_train,
    y_train,
    x_val=None,
    y_val=None,
    x_test=None,
    y_test=None,
    num_classes: int | None = None,
    imbalance_threshold: float = 3.0,
) -> DataReport:
    """Check a classification data set: duplicates, leakage, labels, NaN/Inf, value range.

    Use it before training, and again when training goes wrong (seed 000, "analyse des
    batches": all examples must be different and the labels correct). It never modifies the
    arrays.

    It flags:

    - exact duplicates within a split, and identical rows with different labels (a sure
      sign of a labelling error);
    - leakage: rows of the validation or test split that also occur in an earlier split;
    - labels outside ``0..num_classes-1``;
    - class imbalance: ``max count / min count > imbalance_threshold``, or a class missing
      from a split;
    - examples holding NaN or Inf;
    - inputs that are not normalised: ``|mean| > 1`` or ``std > 3`` over all finite values
      (raw pixels in 0..255 or 0..16 are flagged; values scaled to [0, 1] or standardised
      are not).

    Rows are compared by a 128-bit BLAKE2 hash of their values, one chunk at a time.

    Args:
        x_train: training inputs.
        y_train: training labels (integers or one-hot rows).
        x_val: validation inputs. Defaults to ``None``.
        y_val: validation labels, required with ``x_val``. Defaults to ``None``.
        x_test: test inputs. Defaults to ``None``.
        y_test: test labels, required with ``x_test``. Defaults to ``None``.
        num_classes: expected number of classes; ``None`` infers ``max label + 1``.
            Defaults to ``None``.
        imbalance_threshold: largest tolerated ratio of the largest to the smallest class
            count, > 1. Defaults to ``3.0``.

    Returns:
        A :class:`DataReport`.

    Raises:
        ValueError: mismatched lengths, empty splits, ``x`` without ``y``, continuous targets,
            ``num_classes < 1``.

    Example:

    >>> from keras_recipes.analysis import check_data
    >>> from keras_recipes.data import load_dataset, split
    >>> ds = load_dataset("digits")
    >>> train, val, test = split(ds.x, ds.y)
    >>> report = check_data(*train, *val, *test, num_classes=10)
    >>> int(report.leakage["n_shared"].sum()) >= 0
    True

    References:
        - Karpathy, 2019, "A Recipe for Training Neural Networks" ("become one with the
          data"), https://karpathy.github.io/2019/04/25/recipe/
    """
    if num_classes is not None:
        check_number("num_classes", num_classes, low=1, integer=True)
    check_number("imbalance_threshold", imbalance_threshold, low=1, low_inclusive=False)
    given = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, (x, y) in given.items():
        if x is None and y is None:
            continue
        if x is None or y is None:
            missing = "x" if x is None else "y"
            raise ValueError(f"Argument `{missing}_{name}` is missing: pass both `x_{name}` and "
                             f"`y_{name}`, or neither.")
        splits[name] = _check_pair(name, x, y)

    k = int(num_classes) if num_classes is not None else (
        max(1, max(int(lab.max()) for _, lab in splits.values()) + 1)
    )
    problems: list[str] = []
    rows, hashes, counts = {}, {}, {}
    for name, (x, labels) in splits.items():
        h = _row_hashes(x)
        hashes[name] = h
        frame = pd.DataFrame({"h": h, "y": labels})
        dup = int(len(h) - len(np.unique(h)))
        n_labels = frame.groupby("h")["y"].nunique()
        conflicts = int((n_labels > 1).sum())
        bad = labels[(labels < 0) | (labels >= k)]
        in_range = labels[(labels >= 0) & (labels < k)]
        c = np.bincount(in_range, minlength=k)
        counts[name] = c
        imbalance = float(c.max() / c.min()) if c.min() > 0 else float("inf")
        stats = _value_stats(x)
        rows[name] = {"n": len(x), "duplicates": dup, "conflicting_labels": conflicts,
                      "bad_labels": len(bad), **stats, "imbalance": imbalance}
        if dup:
            problems.append(f"{name}: {dup} duplicate example(s) (extra copies of a row).")
        if conflicts:
            problems.append(f"{name}: {conflicts} group(s) of identical examples with "
                            "different labels.")
        if len(bad):
            problems.append(f"{name}: {len(bad)} label(s) outside 0..{k - 1} "
                            f"(e.g. {sorted(set(bad.tolist()))[:5]}).")
        if imbalance > imbalance_threshold:
            missing = np.flatnonzero(c == 0).tolist()
            detail = (f"class(es) {missing[:10]} missing" if missing
                      else f"largest/smallest class = {imbalance:.2f}")
            problems.append(f"{name}: classes are imbalanced ({detail}; threshold "
                            f"{imbalance_threshold:g}).")
        if stats["nan"] or stats["inf"]:
            problems.append(f"{name}: {stats['nan']} example(s) with NaN and {stats['inf']} "
                            "with Inf.")
        if stats["not_normalised"]:
            problems.append(f"{name}: inputs are not normalised (mean={stats['mean']:.3g}, "
                            f"std={stats['std']:.3g}); scale them to [0, 1] or standardise.")

    names = list(splits)
    leak_rows = []
    for i, first in enumerate(names):
        seen = set(hashes[first].tolist())
        for second in names[i + 1:]:
            shared = int(sum(h in seen for h in hashes[second].tolist()))
            leak_rows.append({"first": first, "second": second, "n_shared": shared})
            if shared:
                problems.append(f"leakage: {shared} example(s) of {second} also occur in "
                                f"{first}.")
    leakage = pd.DataFrame(leak_rows, columns=["first", "second", "n_shared"])
    class_counts = pd.DataFrame(counts, index=pd.Index(range(k), name="class"))
    return DataReport(
        splits=pd.DataFrame.from_dict(rows, orient="index").rename_axis("split"),
        leakage=leakage,
        class_counts=class_counts,
        problems=problems,
    )
