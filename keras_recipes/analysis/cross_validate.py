"""k-fold cross-validation of a Keras model builder (seed 001)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import check_number
from keras_recipes.data import kfold

_RESERVED_FIT_KWARGS = ("x", "y", "validation_data", "validation_split")


@dataclasses.dataclass
class CrossValidationResult:
    """Per-fold metrics of :func:`cross_validate`, with their mean and standard deviation.

    Attributes:
        folds: one row per fold: ``fold``, ``n_train``, ``n_val``, ``epochs`` (epochs run) and
            every metric returned by ``model.evaluate`` on the fold's validation part
            (``loss``, ``accuracy``...).
        mean: mean of each metric over the folds.
        std: standard deviation (ddof=1, the sample estimate) of each metric over the folds.
        histories: the ``History.history`` dict of each fold.
    """

    folds: pd.DataFrame
    mean: pd.Series
    std: pd.Series
    histories: list[dict[str, list[float]]]

    def summary(self) -> pd.DataFrame:
        """``mean`` and ``std`` side by side, one row per metric."""
        return pd.DataFrame({"mean": self.mean, "std": self.std})


@dataclasses.dataclass
class _RotatingFold:
    """One model of the rotating variant: train, validation and test parts."""

    fold: int
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any


def _rotating(folds, x, y) -> list[_RotatingFold]:
    """Part ``i`` tests, part ``i+1`` validates, the others train (seed 001's variant)."""
    x, y = np.asarray(x), np.asarray(y)
    parts = [f.val_index for f in folds]
    k = len(parts)
    out = []
    for i in range(k):
        test, val = parts[i], parts[(i + 1) % k]
        train = np.sort(np.concatenate([parts[j] for j in range(k) if j not in (i, (i + 1) % k)]))
        out.append(_RotatingFold(i, train, val, test, x[train], y[train], x[val], y[val],
                                 x[test], y[test]))
    return out


def cross_validate(
    build_model: Callable[[], keras.Model],
    x,
    y,
    k: int = 5,
    fit_kwargs: dict[str, Any] | None = None,
    stratify: bool = True,
    seed: int = 0,
    evaluate_kwargs: dict[str, Any] | None = None,
    rotate_test: bool = False,
) -> CrossValidationResult:
    """Train one fresh model per fold and report the validation metrics of each fold.

    Use it on small data sets, where one validation split is too noisy to compare models
    (seed 001: split the data into 5 parts, train 5 models, each part is validated once, and
    average the performance). Folds come from :func:`keras_recipes.data.kfold`, that is
    scikit-learn's ``StratifiedKFold(k, shuffle=True, random_state=seed)`` (``KFold`` with
    ``stratify=False`` or continuous targets): every fold keeps the class ratios, and a
    study can be repeated in scikit-learn on the same folds.

    ``mean_m = (1/k) Σ_i m_i`` and ``std_m = sqrt(Σ_i (m_i − mean_m)² / (k − 1))``.

    With ``rotate_test=True``, seed 001's variant: the data are cut into ``k`` parts and
    model ``i`` tests on part ``i``, validates on part ``i+1 (mod k)`` (passed to ``fit`` as
    ``validation_data``, for early stopping) and trains on the ``k − 2`` others. Every
    example is a test example exactly once, and the reported metrics (``mean``, ``std``)
    are the test metrics averaged over the ``k`` models; each fold's validation metrics are
    in ``folds`` with a ``val_`` prefix.

    Args:
        build_model: a function with no argument that returns a new, compiled model. It is
            called once per fold.
        x: inputs. Not modified.
        y: labels or targets. Not modified.
        k: number of folds, >= 2. Defaults to ``5``.
        fit_kwargs: keyword arguments of ``model.fit`` (``epochs``, ``batch_size``,
            ``callbacks``...), without ``x``, ``y``, ``validation_data`` or
            ``validation_split``. Defaults to ``None`` (``verbose=0``).
        stratify: keep class ratios in every fold. Defaults to ``True``.
        seed: seed of the fold assignment (scikit-learn's ``random_state``).
            Defaults to ``0``.
        evaluate_kwargs: keyword arguments of ``model.evaluate``. Defaults to ``None``.
        rotate_test: seed 001's variant with rotating validation and test parts
            (``k >= 3``). Defaults to ``False``.

    Returns:
        A :class:`CrossValidationResult`.

    Raises:
        ValueError: ``k < 2`` or larger than the data (or, stratified, than the largest
            class), mismatched lengths, empty inputs,
            reserved ``fit_kwargs``, a builder that returns an uncompiled model or the same
            model twice.

    Example:

    >>> import keras
    >>> from keras_recipes.analysis import cross_validate
    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits", flatten=True)
    >>> def build():
    ...     m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
    ...     m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ...     return m
    >>> cv = cross_validate(build, ds.x[:300], ds.y[:300], k=3, fit_kwargs={"epochs": 1})
    >>> len(cv.folds), sorted(cv.mean.index)
    (3, ['accuracy', 'loss'])

    References:
        - Stone, 1974, "Cross-Validatory Choice and Assessment of Statistical Predictions",
          https://doi.org/10.1111/j.2517-6161.1974.tb00994.x
    """
    if not callable(build_model):
        raise ValueError(f"Argument `build_model` must be a function that returns a compiled "
                         f"model. Received: build_model={build_model!r}")
    check_number("k", k, low=3 if rotate_test else 2, integer=True)
    fit_kwargs = dict(fit_kwargs or {})
    reserved = sorted(set(fit_kwargs) & set(_RESERVED_FIT_KWARGS))
    if reserved:
        raise ValueError(
            f"Argument `fit_kwargs` must not hold {reserved}: each fold supplies its own "
            f"training and validation data. Received: fit_kwargs keys={sorted(fit_kwargs)}"
        )
    fit_kwargs.setdefault("verbose", 0)
    evaluate_kwargs = dict(evaluate_kwargs or {})
    evaluate_kwargs.setdefault("verbose", 0)
    evaluate_kwargs["return_dict"] = True
    folds = list(kfold(x, y, k=int(k), stratify=stratify, seed=seed))
    if rotate_test:
        folds = _rotating(folds, x, y)
    rows, histories = [], []
    previous = None
    for fold in folds:
        model = build_model()
        if not isinstance(model, keras.Model):
            raise ValueError(f"`build_model` must return a keras.Model. Received: {model!r}")
        if model is previous:
            raise ValueError("`build_model` returned the same model for two folds; it must "
                             "build a new model at each call.")
        if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
            raise ValueError("`build_model` must return a compiled model (call "
                             "`model.compile(...)` inside it).")
        extra: dict[str, Any] = {}
        if rotate_test:
            history = model.fit(fold.x_train, fold.y_train,
                                validation_data=(fold.x_val, fold.y_val), **fit_kwargs)
            val = model.evaluate(fold.x_val, fold.y_val, **evaluate_kwargs)
            extra = {"n_test": len(fold.test_index),
                     **{f"val_{n}": float(np.asarray(v)) for n, v in val.items()}}
            metrics = model.evaluate(fold.x_test, fold.y_test, **evaluate_kwargs)
        else:
            history = model.fit(fold.x_train, fold.y_train, **fit_kwargs)
            metrics = model.evaluate(fold.x_val, fold.y_val, **evaluate_kwargs)
        hist = dict(history.history) if history is not None else {}
        epochs = len(next(iter(hist.values()))) if hist else 0
        rows.append({"fold": fold.fold, "n_train": len(fold.train_index),
                     "n_val": len(fold.val_index), **extra, "epochs": epochs,
                     **{name: float(np.asarray(v)) for name, v in metrics.items()}})
        histories.append(hist)
        previous = model
    frame = pd.DataFrame(rows)
    metric_cols = [c for c in frame.columns
                   if c not in ("fold", "n_train", "n_val", "n_test", "epochs")
                   and not (rotate_test and c.startswith("val_"))]
    return CrossValidationResult(
        folds=frame,
        mean=frame[metric_cols].mean(),
        std=frame[metric_cols].std(ddof=1),
        histories=histories,
    )
