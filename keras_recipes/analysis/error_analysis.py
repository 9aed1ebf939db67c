"""Error analysis of a trained classifier: which examples it gets wrong, and how badly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from keras_recipes._validation import check_number, check_one_of
from keras_recipes.analysis._grid import as_image, grid_figure, image_shape_of
from keras_recipes.analysis._probabilities import (
    as_inputs,
    as_labels,
    batched_probabilities,
    check_batch_size,
    check_label_range,
    cross_entropy,
    entropy,
)

_KINDS = ("worst", "best", "most_uncertain", "correct", "wrong")


class ErrorAnalysis:
    """Per-example loss, prediction, confidence and entropy of a classifier, ranked.

    Use it after training, for the retrospective that finds mislabelled examples, data
    processing bugs and how hard the task is: look at random correct and wrong predictions,
    the best and the worst examples, the most uncertain ones, the confusion matrix and the
    per-class scores.

    The model is run once, in inference mode, one batch at a time. Only per-example scalars
    are kept (a DataFrame of ``n`` rows), so memory does not grow with the number of classes
    or the model's size. ``x`` is kept by reference, only to draw examples; it is never
    modified.

    For an example with label ``y`` and predicted probabilities ``p`` (a binary classifier's
    single output ``q`` is read as ``p = [1 - q, q]``):

    - ``loss = -log p[y]`` (cross-entropy, natural log; the model's compiled loss is not used,
      so the model need not be compiled);
    - ``pred = argmax p``, ``confidence = max p``, ``prob_true = p[y]``;
    - ``entropy = -Σ p log p``; the most uncertain example has the highest entropy (for a
      binary classifier, the probability closest to 0.5).

    Args:
        model: a trained Keras classifier with one output: probabilities (softmax or a
            single sigmoid unit), or logits with ``from_logits=True``.
        x: inputs, with a leading batch axis.
        y: integer class labels, or one-hot rows.
        batch_size: examples per prediction batch. Defaults to ``256``.
        from_logits: the model outputs logits; softmax (sigmoid for one unit) is applied.
            Defaults to ``False``.
        class_names: a name per class, used in tables and plots. Defaults to ``None``
            (the class indices).

    Raises:
        ValueError: mismatched lengths, empty inputs, non-class targets, a model whose outputs
            are not probabilities (e.g. a regression model, or logits without
            ``from_logits=True``), labels outside the model's classes.

    Example:

    >>> import keras
    >>> from keras_recipes.analysis import ErrorAnalysis
    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits", flatten=True)
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
    >>> ea = ErrorAnalysis(model, ds.x[:100], ds.y[:100])
    >>> list(ea.table.columns)
    ['label', 'pred', 'correct', 'confidence', 'prob_true', 'loss', 'entropy']
    >>> len(ea.worst(3))
    3

    References:
        - Karpathy, 2019, "A Recipe for Training Neural Networks",
          https://karpathy.github.io/2019/04/25/recipe/
        - fastai ``ClassificationInterpretation``,
          https://docs.fast.ai/interpret.html
    """

    def __init__(
        self,
        model,
        x,
        y,
        batch_size: int = 256,
        from_logits: bool = False,
        class_names: Sequence[str] | None = None,
    ):
        self._x = as_inputs(x)
        labels = as_labels(y, len(self._x))
        batch_size = check_batch_size(batch_size)
        if not hasattr(model, "predict_on_batch"):
            raise ValueError(f"Argument `model` must be a Keras model. Received: model={model!r}")
        n = len(labels)
        pred = np.empty(n, dtype="int64")
        confidence = np.empty(n)
        prob_true = np.empty(n)
        ent = np.empty(n)
        num_classes = None
        for start, p in batched_probabilities(model, self._x, batch_size, bool(from_logits)):
            stop = start + len(p)
            if num_classes is None:
                num_classes = p.shape[1]
                check_label_range(labels, num_classes)
            lab = labels[start:stop]
            pred[start:stop] = p.argmax(axis=1)
            confidence[start:stop] = p.max(axis=1)
            prob_true[start:stop] = p[np.arange(len(p)), lab]
            ent[start:stop] = entropy(p)
        self.num_classes: int = int(num_classes)
        if class_names is None:
            class_names = [str(i) for i in range(self.num_classes)]
        class_names = [str(c) for c in class_names]
        if len(class_names) != self.num_classes:
            raise ValueError(
                f"Argument `class_names` must hold one name per class ({self.num_classes}). "
                f"Received: len(class_names)={len(class_names)}"
            )
        self.class_names: list[str] = class_names
        self.table: pd.DataFrame = pd.DataFrame(
            {
                "label": labels,
                "pred": pred,
                "correct": pred == labels,
                "confidence": confidence,
                "prob_true": prob_true,
                "loss": cross_entropy(prob_true),
                "entropy": ent,
            }
        )
        self.table.index.name = "index"

    # ------------------------------------------------------------------ summaries
    @property
    def accuracy(self) -> float:
        """Fraction of correct predictions."""
        return float(self.table["correct"].mean())

    @property
    def mean_loss(self) -> float:
        """Mean cross-entropy over the examples."""
        return float(self.table["loss"].mean())

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (f"ErrorAnalysis(n={len(self)}, num_classes={self.num_classes}, "
                f"accuracy={self.accuracy:.4f}, mean_loss={self.mean_loss:.4f})")

    # ------------------------------------------------------------------ rankings
    def _check_n(self, n, available: int, what: str) -> int:
        check_number("n", n, low=1, integer=True)
        if n > available:
            raise ValueError(
                f"Argument `n` must be <= the number of {what} examples ({available}). "
                f"Received: n={n}"
            )
        return int(n)

    def sample(self, kind: str = "wrong", n: int = 9, seed: int = 0) -> pd.DataFrame:
        """``n`` random examples that the model gets right (``"correct"``) or wrong.

        Args:
            kind: ``"correct"`` or ``"wrong"``. Defaults to ``"wrong"``.
            n: how many. Defaults to ``9``.
            seed: seed of the draw. Defaults to ``0``.

        Returns:
            Rows of :attr:`table`, indexed by the position of the example in ``x``.
        """
        check_one_of("kind", kind, ("correct", "wrong"))
        check_number("seed", seed, integer=True)
        pool = self.table[self.table["correct"] == (kind == "correct")]
        n = self._check_n(n, len(pool), kind)
        chosen = np.random.default_rng(seed).choice(len(pool), size=n, replace=False)
        return pool.iloc[np.sort(chosen)]

    def best(self, n: int = 9) -> pd.DataFrame:
        """The ``n`` examples with the lowest loss, best first."""
        n = self._check_n(n, len(self), "available")
        return self.table.sort_values("loss", kind="stable").head(n)

    def worst(self, n: int = 9) -> pd.DataFrame:
        """The ``n`` examples with the highest loss, worst first."""
        n = self._check_n(n, len(self), "available")
        return self.table.sort_values("loss", ascending=False, kind="stable").head(n)

    def most_uncertain(self, n: int = 9) -> pd.DataFrame:
        """The ``n`` examples with the highest predictive entropy, most uncertain first."""
        n = self._check_n(n, len(self), "available")
        return self.table.sort_values("entropy", ascending=False, kind="stable").head(n)

    # ------------------------------------------------------------------ tables
    def confusion_matrix(self) -> pd.DataFrame:
        """Counts with true classes as rows and predicted classes as columns."""
        from sklearn.metrics import confusion_matrix

        counts = confusion_matrix(self.table["label"].to_numpy(), self.table["pred"].to_numpy(),
                                  labels=np.arange(self.num_classes))
        return pd.DataFrame(
            counts,
            index=pd.Index(self.class_names, name="true"),
            columns=pd.Index(self.class_names, name="predicted"),
        )

    def most_confused(self, min_count: int = 1) -> pd.DataFrame:
        """Off-diagonal (true, predicted) pairs seen at least ``min_count`` times, most first.

        Args:
            min_count: smallest count to report, >= 1. Defaults to ``1``.

        Returns:
            A DataFrame with columns ``true``, ``predicted``, ``count``.
        """
        check_number("min_count", min_count, low=1, integer=True)
        cm = self.confusion_matrix().to_numpy()
        rows = [
            (self.class_names[i], self.class_names[j], int(cm[i, j]))
            for i in range(self.num_classes)
            for j in range(self.num_classes)
            if i != j and cm[i, j] >= min_count
        ]
        out = pd.DataFrame(rows, columns=["true", "predicted", "count"])
        return out.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)

    def per_class(self) -> pd.DataFrame:
        """Precision, recall, F1 and support of each class (0 where undefined).

        ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``,
        ``F1 = 2 · precision · recall / (precision + recall)``.
        """
        from sklearn.metrics import precision_recall_fscore_support

        precision, recall, f1, support = precision_recall_fscore_support(
            self.table["label"].to_numpy(), self.table["pred"].to_numpy(),
            labels=np.arange(self.num_classes), zero_division=0.0)
        return pd.DataFrame(
            {"precision": precision, "recall": recall, "f1": f1,
             "support": support.astype("int64")},
            index=pd.Index(self.class_names, name="class"),
        )

    # ------------------------------------------------------------------ plots
    def examples(self, kind: str = "worst", n: int = 9, seed: int = 0) -> pd.DataFrame:
        """Rows for ``kind`` in ``{"worst", "best", "most_uncertain", "correct", "wrong"}``."""
        check_one_of("kind", kind, _KINDS)
        if kind in ("correct", "wrong"):
            return self.sample(kind, n, seed)
        return getattr(self, kind)(n)

    def plot_examples(
        self,
        kind: str = "worst",
        n: int = 9,
        ncols: int = 6,
        seed: int = 0,
        image_shape: Sequence[int] | None = None,
    ):
        """A grid of examples titled with label, prediction, confidence and loss.

        Args:
            kind: ``"worst"``, ``"best"``, ``"most_uncertain"``, ``"correct"`` or
                ``"wrong"``. Defaults to ``"worst"``.
            n: number of examples. Defaults to ``9``.
            ncols: images per row. Defaults to ``6``.
            seed: seed of the draw for ``"correct"``/``"wrong"``. Defaults to ``0``.
            image_shape: shape to show each example with, e.g. ``(8, 8)`` for flattened
                digits; flat examples of square length are reshaped automatically.
                Defaults to ``None``.

        Returns:
            A ``matplotlib.figure.Figure`` (never shown).
        """
        check_number("ncols", ncols, low=1, integer=True)
        shape = image_shape_of(self._x, image_shape)
        rows = self.examples(kind, n, seed)
        images, titles = [], []
        for index, row in rows.iterrows():
            images.append(as_image(self._x[index], shape))
            titles.append(
                f"#{index} y={self.class_names[row['label']]} "
                f"ŷ={self.class_names[row['pred']]}\n"
                f"p={row['confidence']:.2f} loss={row['loss']:.2f}"
            )
        return grid_figure(images, titles, int(ncols))
