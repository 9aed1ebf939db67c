"""Does the data augmentation keep the class? A preview grid and a programmatic check."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd

from keras_recipes._validation import check_number, check_probability
from keras_recipes.analysis._grid import as_image, grid_figure, image_shape_of
from keras_recipes.analysis._probabilities import (
    as_inputs,
    batched_probabilities,
    check_batch_size,
)


def _augment_batch(augment: Callable, batch: np.ndarray) -> np.ndarray:
    """Apply ``augment`` to a copy of ``batch`` (in training mode for Keras layers)."""
    if not callable(augment):
        raise ValueError(f"Argument `augment` must be callable (a Keras layer or a function of "
                         f"a batch). Received: augment={augment!r}")
    data = np.array(batch, copy=True)
    out = augment(data, training=True) if isinstance(augment, keras.layers.Layer) else augment(data)
    out = np.asarray(keras.ops.convert_to_numpy(out))
    if out.shape[0] != batch.shape[0] or int(np.prod(out.shape[1:])) != int(
        np.prod(batch.shape[1:])
    ):
        raise ValueError(
            "Argument `augment` must return a batch of the same size and example shape. "
            f"Received: input shape={batch.shape}, output shape={out.shape}"
        )
    return out.reshape(batch.shape)


def _pick(n_total: int, n, seed) -> np.ndarray:
    check_number("n", n, low=1, integer=True)
    check_number("seed", seed, integer=True)
    if n > n_total:
        raise ValueError(f"Argument `n` must be <= the number of examples ({n_total}). "
                         f"Received: n={n}")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=int(n), replace=False))


def preview_augmentation(
    augment: Callable,
    x,
    n: int = 6,
    copies: int = 4,
    seed: int = 0,
    image_shape: Sequence[int] | None = None,
    labels=None,
):
    """A grid: each row shows one original example, then ``copies`` augmented versions.

    Use it to check by eye that the augmentation keeps the class (seed 000: "afficher
    l'augmentation de données, regarder si elle respecte l'invariance de classe"), e.g. that a
    flip does not turn a 6 into a 9 or a crop does not cut the object away.

    Args:
        augment: a Keras layer (called with ``training=True``) or any function of a batch
            that returns a batch of the same shape.
        x: inputs; ``n`` of them are drawn at random. ``x`` is not modified.
        n: number of originals (rows). Defaults to ``6``.
        copies: augmented versions per original (columns after the first). Defaults to ``4``.
        seed: seed of the draw of originals. The augmentation's own randomness comes from the
            layer's seed. Defaults to ``0``.
        image_shape: shape to show each example with; flat examples of square length are
            reshaped automatically. Defaults to ``None``.
        labels: optional labels, shown in the row titles. Defaults to ``None``.

    Returns:
        A ``matplotlib.figure.Figure`` (never shown).

    Example:

    >>> import keras
    >>> from keras_recipes.analysis import preview_augmentation
    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits")
    >>> fig = preview_augmentation(keras.layers.RandomRotation(0.05, seed=1), ds.x, n=2,
    ...                            copies=3)
    >>> len(fig.axes)
    8
    """
    x = as_inputs(x)
    check_number("copies", copies, low=1, integer=True)
    shape = image_shape_of(x, image_shape)
    idx = _pick(len(x), n, seed)
    originals = x[idx]
    augmented = [_augment_batch(augment, originals) for _ in range(int(copies))]
    images, titles = [], []
    for r, i in enumerate(idx):
        tag = f" y={np.asarray(labels)[i]}" if labels is not None else ""
        images.append(as_image(originals[r], shape))
        titles.append(f"#{i}{tag} original")
        for c, batch in enumerate(augmented):
            images.append(as_image(batch[r], shape))
            titles.append(f"augmented {c + 1}")
    return grid_figure(images, titles, int(copies) + 1)


@dataclasses.dataclass
class AugmentationCheck:
    """Result of :func:`check_augmentation`.

    Attributes:
        changed_fraction: fraction of (example, copy) pairs whose predicted class changed.
        threshold: the tolerated fraction.
        flagged: ``changed_fraction > threshold``: the augmentation probably changes the
            class (or the reference model is not invariant to it).
        per_class: per original predicted class: ``n`` and ``changed_fraction``.
        changed_index: positions in ``x`` of the examples changed by at least one copy.
    """

    changed_fraction: float
    threshold: float
    flagged: bool
    per_class: pd.DataFrame
    changed_index: np.ndarray


def check_augmentation(
    augment: Callable,
    model,
    x,
    threshold: float = 0.1,
    copies: int = 1,
    batch_size: int = 256,
    from_logits: bool = False,
) -> AugmentationCheck:
    """Flag an augmentation that changes a frozen reference model's predictions too often.

    The programmatic twin of :func:`preview_augmentation`. A reference classifier, trained
    without this augmentation, predicts each example and ``copies`` augmented versions; the
    augmentation is flagged when the predicted class changes for more than ``threshold`` of
    the pairs. A class-preserving augmentation (a small shift) changes few predictions of a
    good model; one that destroys the class (a vertical flip of digits) changes many.

    ``changed_fraction = #{(i, c) : argmax f(a_c(x_i)) ≠ argmax f(x_i)} / (n · copies)``

    The model is only run in inference mode: neither it nor ``x`` is modified.

    Args:
        augment: a Keras layer (called with ``training=True``) or a function of a batch.
        model: the reference classifier (probabilities, or logits with ``from_logits``).
        x: inputs to check.
        threshold: tolerated fraction of changed predictions, in ``[0, 1)``.
            Defaults to ``0.1``.
        copies: augmented versions of each example. Defaults to ``1``.
        batch_size: examples per batch. Defaults to ``256``.
        from_logits: the model outputs logits. Defaults to ``False``.

    Returns:
        An :class:`AugmentationCheck`.

    Example:

    >>> import keras
    >>> from keras_recipes.analysis import check_augmentation
    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits")
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(10, "softmax")])
    >>> result = check_augmentation(lambda b: b[:, ::-1], model, ds.x[:50])
    >>> 0.0 <= result.changed_fraction <= 1.0
    True

    References:
        - Shorten & Khoshgoftaar, 2019, "A survey on Image Data Augmentation for Deep
          Learning" (label-preserving transformations),
          https://doi.org/10.1186/s40537-019-0197-0
    """
    x = as_inputs(x)
    check_probability("threshold", threshold)
    check_number("copies", copies, low=1, integer=True)
    batch_size = check_batch_size(batch_size)
    original = np.empty(len(x), dtype="int64")
    changed = np.zeros(len(x), dtype="int64")
    for start, p in batched_probabilities(model, x, batch_size, bool(from_logits)):
        original[start:start + len(p)] = p.argmax(axis=1)
    for _ in range(int(copies)):
        for start in range(0, len(x), batch_size):
            batch = _augment_batch(augment, x[start:start + batch_size])
            _, p = next(batched_probabilities(model, batch, len(batch), bool(from_logits)))
            changed[start:start + len(p)] += p.argmax(axis=1) != original[start:start + len(p)]
    fraction = float(changed.sum() / (len(x) * int(copies)))
    frame = pd.DataFrame({"pred": original, "changed": changed / int(copies)})
    per_class = frame.groupby("pred")["changed"].agg(["size", "mean"])
    per_class.columns = ["n", "changed_fraction"]
    per_class.index.name = "predicted_class"
    return AugmentationCheck(
        changed_fraction=fraction,
        threshold=float(threshold),
        flagged=fraction > float(threshold),
        per_class=per_class,
        changed_index=np.flatnonzero(changed > 0),
    )
