"""Shared helpers: batched predictions of a classifier turned into checked probabilities.

Used by :class:`~keras_recipes.analysis.ErrorAnalysis`, the augmentation check and
:func:`~keras_recipes.ensembles.evaluate_ensemble`. Nothing here keeps more than one batch of
model outputs in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from keras_recipes import _distribute
from keras_recipes._validation import check_number, received
from keras_recipes.data import class_labels

_SUM_TOLERANCE = 1e-3
_EPS = 1e-12


def as_inputs(x, name: str = "x") -> np.ndarray:
    """``x`` as an array with a non-empty batch axis (no copy when it already is one)."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"Argument `{name}` must be an array with a batch axis. "
                         f"Received: {name}.shape={x.shape}")
    if len(x) == 0:
        raise ValueError(f"Argument `{name}` is empty. Received: len({name})=0")
    return x


def as_labels(y, n: int, name: str = "y") -> np.ndarray:
    """Integer class labels of ``y`` (ints or one-hot rows) of length ``n``."""
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError(f"Argument `{name}` must be an array of class labels. "
                         f"Received: {name}.shape={y.shape}")
    if len(y) != n:
        raise ValueError(
            f"Arguments `x` and `{name}` must have the same length. "
            + received(len_x=n, **{f"len_{name}": len(y)})
        )
    labels = class_labels(y)
    if labels is None:
        raise ValueError(
            f"Argument `{name}` must hold class labels (integers or one-hot rows); it holds "
            "continuous targets, so the model is not a classifier. "
            f"Received: {name}.dtype={y.dtype}, {name}.shape={y.shape}"
        )
    if labels.min() < 0:
        raise ValueError(f"Argument `{name}` holds negative labels. "
                         f"Received: min({name})={int(labels.min())}")
    return labels


def check_batch_size(batch_size) -> int:
    check_number("batch_size", batch_size, low=1, integer=True)
    return int(batch_size)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def to_probabilities(out, from_logits: bool) -> np.ndarray:
    """Turn one batch of classifier outputs into ``(batch, num_classes)`` probabilities.

    A single output unit (or a 1-D output) is a binary classifier: ``p`` becomes
    ``[1 - p, p]``. Raises a ``ValueError`` that explains what to do when the outputs are not
    probabilities (regression output, logits without ``from_logits=True``).
    """
    out = np.asarray(out, dtype="float64")
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise ValueError(
            "The model is not a classifier: its output must have shape (batch,) or "
            f"(batch, num_classes). Received: output shape={out.shape}"
        )
    if not np.isfinite(out).all():
        raise ValueError("The model's output holds NaN or Inf values; it cannot be analysed "
                         "as a classifier.")
    if out.shape[1] == 1:
        if from_logits:
            p = 1.0 / (1.0 + np.exp(-out[:, 0]))
        else:
            p = out[:, 0]
            if p.min() < -_SUM_TOLERANCE or p.max() > 1 + _SUM_TOLERANCE:
                raise ValueError(
                    "The model's single output is not a probability (values outside [0, 1]: "
                    f"min={p.min():.4g}, max={p.max():.4g}). A binary classifier must end "
                    "with a sigmoid; pass from_logits=True if it outputs logits. A regression "
                    "model cannot be analysed as a classifier."
                )
            p = np.clip(p, 0.0, 1.0)
        return np.stack([1.0 - p, p], axis=1)
    if from_logits:
        return _softmax(out)
    sums = out.sum(axis=1)
    if out.min() < -_SUM_TOLERANCE or np.abs(sums - 1.0).max() > _SUM_TOLERANCE:
        raise ValueError(
            "The model's output is not a probability distribution (rows must be >= 0 and sum "
            f"to 1; min={out.min():.4g}, row sums in [{sums.min():.4g}, {sums.max():.4g}]). "
            "Pass from_logits=True if the model outputs logits (no softmax), or end it with "
            "a softmax. A regression model cannot be analysed as a classifier."
        )
    out = np.clip(out, 0.0, None)
    return out / out.sum(axis=1, keepdims=True)


def batched_probabilities(
    model, x: np.ndarray, batch_size: int, from_logits: bool
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, probabilities)`` for consecutive batches of ``x``.

    The model is called in inference mode, one batch at a time; each batch's outputs are
    dropped once the caller has reduced them.
    """
    for start in range(0, len(x), batch_size):
        # One row per example also when the model is replicated over several devices.
        out = _distribute.predict_on_batch(model, x[start:start + batch_size])
        if isinstance(out, list | tuple | dict):
            raise ValueError(
                "The model has several outputs; a classifier with one output is required. "
                f"Received: {len(out)} outputs"
            )
        yield start, to_probabilities(out, from_logits)


def check_label_range(labels: np.ndarray, num_classes: int, name: str = "y") -> None:
    top = int(labels.max())
    if top >= num_classes:
        raise ValueError(
            f"Argument `{name}` holds label {top}, but the model has {num_classes} classes "
            f"(labels must be in 0..{num_classes - 1})."
        )


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (natural log) of each row of ``p``."""
    return -(p * np.log(np.clip(p, _EPS, 1.0))).sum(axis=1)


def cross_entropy(p_true: np.ndarray) -> np.ndarray:
    """``-log p_true``, clipped so that a zero probability gives a finite loss."""
    return -np.log(np.clip(p_true, _EPS, 1.0))
