"""Stratified splits, class subsets and k-fold folds (seeds 001 and the steamroller)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from keras_recipes._validation import check_number, received


class Splits(NamedTuple):
    """``(train, val, test)``; each part is an ``(x, y)`` pair. Two-way splits have no val."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray]


class Subset(NamedTuple):
    """Result of :func:`subset`: the kept examples, remapped labels and the mapping."""

    x: np.ndarray
    y: np.ndarray
    mapping: dict[int, int]
    """Original class → new label in ``0..k-1``."""
    index: np.ndarray
    """Positions of the kept examples in the input arrays."""


class Fold(NamedTuple):
    """One fold of :func:`kfold`."""

    fold: int
    train_index: np.ndarray
    val_index: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _check_xy(x, y, *, allow_nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            "Arguments `x` and `y` must be arrays with a batch axis. "
            + received(x_shape=x.shape, y_shape=y.shape)
        )
    if len(x) != len(y):
        raise ValueError(
            "Arguments `x` and `y` must have the same length. " + received(len_x=len(x),
                                                                          len_y=len(y))
        )
    if len(x) == 0:
        raise ValueError("Arguments `x` and `y` are empty. Received: len(x)=0")
    if not allow_nan and x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
        raise ValueError(
            f"Argument `x` holds NaN or Inf values in {bad} example(s); clean or impute them "
            "first (see keras_recipes.analysis.check_data)."
        )
    return x, y


def class_labels(y: np.ndarray) -> np.ndarray | None:
    """Integer class labels of ``y``, or ``None`` when ``y`` is a continuous target.

    One-hot (or probability) rows are turned into their argmax.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    flat = y.reshape(len(y), -1)
    if flat.shape[1] != 1:
        return None
    flat = flat[:, 0]
    if flat.dtype.kind in "iub":
        return flat.astype("int64")
    if flat.dtype.kind == "f" and np.isfinite(flat).all() and np.all(np.mod(flat, 1) == 0):
        return flat.astype("int64")
    if flat.dtype.kind in "OU":
        return np.unique(flat, return_inverse=True)[1]
    return None


def _allocate(n: int, fractions: np.ndarray) -> np.ndarray:
    """Split ``n`` into counts proportional to ``fractions`` (largest remainder)."""
    exact = n * fractions
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _stratified_parts(labels, fractions, rng) -> list[np.ndarray]:
    """Split each class on its own; every class count is within one of its exact share.

    The extra examples of a class go to the splits that are furthest below their overall
    target so far, so the split sizes also stay within about one example of ``N·f``.
    """
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    assigned = np.zeros(len(fractions))
    seen = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        exact = len(idx) * fractions
        counts = np.floor(exact).astype(int)
        seen += len(idx)
        deficit = seen * fractions - (assigned + counts)
        order = np.argsort(-deficit, kind="stable")
        counts[order[: len(idx) - counts.sum()]] += 1
        assigned += counts
        for i, chunk in enumerate(np.split(idx, np.cumsum(counts)[:-1])):
            parts[i].append(chunk)
    return [rng.permutation(np.concatenate(p)) for p in parts]


def _labels_for_stratify(y: np.ndarray, stratify: bool) -> np.ndarray | None:
    if not stratify:
        return None
    labels = class_labels(y)
    if labels is None:
        warnings.warn(
            "`stratify=True` needs class labels, but `y` holds continuous targets; "
            "splitting at random instead. Pass stratify=False to silence this warning.",
            stacklevel=3,
        )
    return labels


def split(
    x,
    y,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    stratify: bool = True,
    seed: int = 0,
) -> Splits:
    """Split ``(x, y)`` into train / validation / test sets (the seeds' 60/20/20).

    With ``stratify=True`` each class is split on its own, so every split keeps the class
    ratios of the whole to within one example per class, and each split's size is within
    about one example of ``N·f`` (largest remainders). scikit-learn has no three-way
    stratified split; ``train_test_split`` applied twice rounds each cut up on its own
    and gives 1077/360/360 on digits, where this gives 1078/360/359 (below).

    Args:
        x: inputs, any shape with a leading batch axis.
        y: class labels (integers, strings or one-hot rows) or regression targets.
        fractions: three fractions (train, val, test) or two (train, test), each > 0 and
            summing to 1. Defaults to ``(0.6, 0.2, 0.2)``.
        stratify: keep class ratios in every split. Continuous targets are split at random
            with a warning. Defaults to ``True``.
        seed: seed of the shuffle. Defaults to ``0``.

    Returns:
        :class:`Splits` ``(train, val, test)`` of ``(x, y)`` pairs; ``val`` is ``None`` for
        two fractions.

    Raises:
        ValueError: mismatched lengths, empty or NaN inputs, bad fractions, or a split that
            would come out empty.

    Example:

    >>> from keras_recipes.data import load_dataset, split
    >>> ds = load_dataset("digits")
    >>> train, val, test = split(ds.x, ds.y)
    >>> len(train[0]), len(val[0]), len(test[0])
    (1078, 360, 359)
    """
    x, y = _check_xy(x, y)
    check_number("seed", seed, integer=True)
    fr = np.asarray(fractions, dtype="float64").reshape(-1)
    if len(fr) not in (2, 3) or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0, atol=1e-6):
        raise ValueError(
            "Argument `fractions` must hold 2 or 3 positive values that sum to 1. "
            f"Received: fractions={tuple(fractions)}"
        )
    rng = np.random.default_rng(seed)
    labels = _labels_for_stratify(y, stratify)
    if labels is None:
        order = rng.permutation(len(x))
        parts = np.split(order, np.cumsum(_allocate(len(x), fr))[:-1])
    else:
        parts = _stratified_parts(labels, fr, rng)
    names = ("train", "val", "test") if len(fr) == 3 else ("train", "test")
    for name, part in zip(names, parts, strict=True):
        if len(part) == 0:
            raise ValueError(
                f"The {name} split would be empty: {len(x)} examples are too few for "
                f"fractions={tuple(fractions)}."
            )
    pairs = [(x[p], y[p]) for p in parts]
    if len(pairs) == 2:
        return Splits(train=pairs[0], val=None, test=pairs[1])
    return Splits(*pairs)


def subset(
    x,
    y,
    classes: Sequence[int] | int | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> Subset:
    """Keep chosen classes, and at most ``per_class`` examples of each.

    This is the data of the steamroller's first two stages: a few classes, then a few
    examples of each. Kept labels are remapped to ``0..k-1`` in the order of ``classes``.

    Args:
        x: inputs.
        y: integer class labels (or one-hot rows).
        classes: the original labels to keep, or an int ``k`` for the first ``k`` classes
            (sorted), or ``None`` for all. Defaults to ``None``.
        per_class: examples to draw at random from each kept class, or ``None`` for all.
            Defaults to ``None``.
        seed: seed of the draw. Defaults to ``0``.

    Returns:
        :class:`Subset` ``(x, y, mapping, index)``.

    Raises:
        ValueError: a class that does not occur in ``y``, ``per_class < 1`` or larger than
            a class holds, mismatched lengths, continuous targets.

    Example:

    >>> from keras_recipes.data import load_dataset, subset
    >>> ds = load_dataset("digits")
    >>> s = subset(ds.x, ds.y, classes=[3, 8], per_class=10)
    >>> s.x.shape, sorted(set(s.y.tolist())), s.mapping
    ((20, 8, 8, 1), [0, 1], {3: 0, 8: 1})
    """
    x, y = _check_xy(x, y)
    check_number("seed", seed, integer=True)
    labels = class_labels(y)
    if labels is None:
        raise ValueError("`subset` needs class labels; `y` holds continuous targets.")
    present = np.unique(labels)
    if classes is None:
        chosen = [int(c) for c in present]
    elif isinstance(classes, int | np.integer):
        if not 1 <= classes <= len(present):
            raise ValueError(
                f"Argument `classes` must be between 1 and the number of classes "
                f"({len(present)}). Received: classes={classes}"
            )
        chosen = [int(c) for c in present[:classes]]
    else:
        chosen = [int(c) for c in classes]
        if not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(
                f"Argument `classes` must list distinct labels. Received: classes={classes}"
            )
        missing = sorted(set(chosen) - set(present.tolist()))
        if missing:
            raise ValueError(
                f"Classes {missing} do not occur in `y` (present: {present.tolist()}). "
                f"Received: classes={list(classes)}"
            )
    if per_class is not None:
        check_number("per_class", per_class, low=1, integer=True)
    rng = np.random.default_rng(seed)
    keep = []
    for c in chosen:
        idx = np.flatnonzero(labels == c)
        if per_class is not None:
            if per_class > len(idx):
                raise ValueError(
                    f"Argument `per_class` is larger than class {c} holds ({len(idx)} "
                    f"examples). Received: per_class={per_class}"
                )
            idx = np.sort(rng.choice(idx, size=per_class, replace=False))
        keep.append(idx)
    index = rng.permutation(np.concatenate(keep))
    mapping = {c: i for i, c in enumerate(chosen)}
    new_y = np.array([mapping[int(c)] for c in labels[index]], dtype="int64")
    return Subset(x=x[index], y=new_y, mapping=mapping, index=index)


def kfold(
    x, y, k: int = 5, stratify: bool = True, seed: int = 0
) -> Iterator[Fold]:
    """Yield the ``k`` folds of k-fold cross-validation (seed 001).

    Every example is in exactly one validation fold. The folds are scikit-learn's:
    ``StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)`` on the class labels
    with ``stratify=True``, ``KFold(n_splits=k, shuffle=True, random_state=seed)``
    otherwise (and, with a warning, for continuous targets). So, with ``n`` examples,
    the first ``n mod k`` validation folds hold ``n // k + 1`` examples and the others
    ``n // k``, and with ``stratify=True`` each class's count in a fold is within one of
    the others' (one-hot rows and string labels are stratified by class too). For a
    given ``seed`` the validation indices are exactly those of scikit-learn's splitter,
    so a study can be compared with one run in scikit-learn.

    A class with fewer than ``k`` examples cannot be in every fold: scikit-learn warns
    (``UserWarning``) and some folds validate without it.

    Args:
        x: inputs.
        y: class labels or targets.
        k: number of folds, ``>= 2``. Defaults to ``5``.
        stratify: keep class ratios in every fold. Defaults to ``True``.
        seed: seed of the shuffle, ``0 <= seed < 2**32`` (``random_state``). Defaults
            to ``0``.

    Yields:
        :class:`Fold` ``(fold, train_index, val_index, x_train, y_train, x_val, y_val)``,
        the index arrays sorted.

    Raises:
        ValueError: ``k < 2``, ``k`` larger than the data, or (``stratify=True``) larger
            than the largest class; mismatched lengths, empty or NaN inputs.

    Example:

    >>> from keras_recipes.data import load_dataset, kfold
    >>> ds = load_dataset("digits")
    >>> [len(f.val_index) for f in kfold(ds.x, ds.y, k=5)]
    [360, 360, 359, 359, 359]

    References:
        - scikit-learn, ``StratifiedKFold`` and ``KFold``,
          https://scikit-learn.org/stable/modules/cross_validation.html
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    x, y = _check_xy(x, y)
    check_number("k", k, low=2, integer=True)
    check_number("seed", seed, integer=True)
    if not 0 <= seed < 2**32:
        raise ValueError(f"Argument `seed` must be between 0 and 2**32 - 1. Received: seed={seed}")
    if k > len(x):
        raise ValueError(
            f"Argument `k` must be <= the number of examples ({len(x)}). Received: k={k}"
        )
    labels = _labels_for_stratify(y, stratify)
    if labels is None:
        splitter = KFold(n_splits=int(k), shuffle=True, random_state=int(seed))
    else:
        largest = int(np.bincount(np.unique(labels, return_inverse=True)[1]).max())
        if k > largest:
            raise ValueError(
                f"Argument `k` must be <= the size of the largest class ({largest}) to "
                f"stratify the folds; pass stratify=False for plain folds. Received: k={k}"
            )
        splitter = StratifiedKFold(n_splits=int(k), shuffle=True, random_state=int(seed))
    for i, (train_index, val_index) in enumerate(splitter.split(np.zeros(len(x)), labels)):
        train_index, val_index = np.sort(train_index), np.sort(val_index)
        yield Fold(i, train_index, val_index, x[train_index], y[train_index], x[val_index],
                   y[val_index])
