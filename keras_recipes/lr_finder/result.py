"""`LRFinderResult`: the curve a range test recorded, its suggestions, a plot and a CSV."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from keras_recipes.lr_finder.suggestions import SUGGESTION_RULES, check_rule, suggest_all

#: Why a range test stopped.
STOP_REASONS = ("completed", "diverged", "non_finite")
_COLUMNS = ("lr", "loss", "smoothed_loss")


def _fmt(value: float | None) -> str:
    return "None" if value is None else f"{value:.3g}"


class LRFinderResult:
    """What a learning-rate range test found.

    Use it to read the suggestion (``result.suggestion``), compare the rules
    (``result.suggestions``), look at the curve (``result.plot()``) or save it
    (``result.to_csv(path)``). :func:`keras_recipes.lr_finder.find_lr` returns one; it can
    also be built from any recorded curve.

    Suggestions are computed on the smoothed loss, after skipping the first tenth of the
    points and the last few (see :func:`keras_recipes.lr_finder.suggestions.trim`).

    Args:
        history: a DataFrame with columns ``lr``, ``loss`` and ``smoothed_loss``, one row
            per step, learning rates increasing.
        rule: the rule whose pick is ``suggestion``: ``"combined"``, ``"valley"``,
            ``"steepest"`` or ``"minimum"``. Defaults to ``"combined"``.
        stop_reason: ``"completed"``, ``"diverged"`` (the smoothed loss passed the
            divergence threshold) or ``"non_finite"`` (a NaN/Inf loss). Defaults to
            ``"completed"``.
        loss_kind: ``"train"`` (each batch's own loss) or ``"validation"``. Defaults to
            ``"train"``.
        baseline_loss: the loss of the best constant prediction of the targets, or
            ``None`` (no check). A curve whose smoothed loss never falls below it shows the
            network fitting the targets' offset, not learning from the inputs: the result
            is then inconclusive and every suggestion is ``None``. :func:`find_lr` passes
            it for the regression losses (mean squared error: the targets' variance; mean
            absolute error: their mean absolute deviation from the median). Defaults to
            ``None``.

    Attributes:
        history: the DataFrame.
        suggestions: ``{rule: lr or None}`` for every rule.
        suggestion: the pick of ``rule`` (``None`` when too few points were finite, or the
            result is inconclusive).
        inconclusive: ``True`` when the curve never went below ``baseline_loss``.

    Example:

    >>> import numpy as np, pandas as pd
    >>> from keras_recipes.lr_finder import LRFinderResult
    >>> lrs = np.logspace(-6, 0, 61)
    >>> loss = -np.tanh(np.log10(lrs) + 3)
    >>> result = LRFinderResult(pd.DataFrame({"lr": lrs, "loss": loss, "smoothed_loss": loss}),
    ...                         rule="steepest")
    >>> round(result.suggestion, 9)
    0.001

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", 2017.
        https://arxiv.org/abs/1506.01186
    """

    def __init__(
        self,
        history: pd.DataFrame,
        rule: str = "combined",
        stop_reason: str = "completed",
        loss_kind: str = "train",
        baseline_loss: float | None = None,
    ):
        missing = [c for c in _COLUMNS if c not in history.columns]
        if missing:
            raise ValueError(
                f"Argument `history` must have the columns {list(_COLUMNS)}. "
                f"Received: columns {list(history.columns)}"
            )
        check_rule(rule)
        if stop_reason not in STOP_REASONS:
            raise ValueError(
                f"Argument `stop_reason` must be one of {list(STOP_REASONS)}. "
                f"Received: stop_reason={stop_reason!r}"
            )
        if loss_kind not in ("train", "validation"):
            raise ValueError(
                "Argument `loss_kind` must be 'train' or 'validation'. "
                f"Received: loss_kind={loss_kind!r}"
            )
        self.history = history.loc[:, list(_COLUMNS)].reset_index(drop=True)
        self.rule = rule
        self.stop_reason = stop_reason
        self.loss_kind = loss_kind
        self.baseline_loss = None if baseline_loss is None else float(baseline_loss)
        self.suggestions: dict[str, float | None] = suggest_all(
            self.history["lr"].to_numpy(), self.history["smoothed_loss"].to_numpy()
        )
        best = self.best_loss
        #: The curve never went below the best constant prediction: no rule's pick means
        #: anything (every suggestion is ``None``).
        self.inconclusive = (self.baseline_loss is not None and best is not None
                             and best >= self.baseline_loss)
        if self.inconclusive:
            self.suggestions = dict.fromkeys(self.suggestions)

    @property
    def suggestion(self) -> float | None:
        """The chosen rule's learning rate."""
        return self.suggestions[self.rule]

    @property
    def best_loss(self) -> float | None:
        """The lowest finite smoothed loss, or ``None``."""
        finite = self.history["smoothed_loss"][np.isfinite(self.history["smoothed_loss"])]
        return None if finite.empty else float(finite.min())

    @property
    def lr_at_best_loss(self) -> float | None:
        """The learning rate where the smoothed loss was lowest, or ``None``."""
        smoothed = self.history["smoothed_loss"].to_numpy(dtype="float64")
        finite = np.isfinite(smoothed)
        if not finite.any():
            return None
        return float(self.history["lr"].iloc[int(np.argmin(np.where(finite, smoothed, np.inf)))])

    def plot(self, ax: Any = None):
        """The loss against the learning rate (log x axis), suggestions marked.

        Args:
            ax: a matplotlib ``Axes`` to draw on; a new figure when ``None``.
                Defaults to ``None``.

        Returns:
            The matplotlib ``Figure`` (never shown).
        """
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(6, 4), layout="constrained")
            ax = fig.add_subplot()
        lr = self.history["lr"].to_numpy()
        ax.plot(lr, self.history["loss"], color="0.75", linewidth=0.8, label="loss")
        ax.plot(lr, self.history["smoothed_loss"], color="C0", label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("validation loss" if self.loss_kind == "validation" else "loss")
        smoothed = self.history["smoothed_loss"].to_numpy(dtype="float64")
        finite = smoothed[np.isfinite(smoothed)]
        if finite.size:  # clip the blow-up so the useful part of the curve stays readable
            low, first = float(finite.min()), float(finite[0])
            span = max(first - low, abs(low) * 0.1, 1e-12)
            ax.set_ylim(low - 0.1 * span, first + 0.5 * span)
        markers = {"steepest": "v", "minimum": "s", "valley": "o", "combined": "D"}
        for name in SUGGESTION_RULES:
            value = self.suggestions[name]
            if value is None:
                continue
            y = float(np.interp(math.log(value), np.log(lr[np.isfinite(smoothed)]), finite))
            ax.plot([value], [y], linestyle="none", marker=markers.get(name, "o"),
                    markersize=8, label=f"{name}: {value:.2e}",
                    markeredgecolor="C3" if name == self.rule else "k")
        ax.set_title(f"Learning-rate range test ({self.stop_reason})")
        ax.legend(loc="best", fontsize="small")
        return ax.figure

    def to_csv(self, path: str | os.PathLike | None = None) -> str | None:
        """Write the history (``lr,loss,smoothed_loss``) as CSV.

        Args:
            path: file to write; when ``None`` the CSV text is returned instead.
                Defaults to ``None``.

        Returns:
            The CSV text when ``path`` is ``None``, else ``None``.
        """
        return self.history.to_csv(path, index=False)

    def __repr__(self) -> str:
        lr = self.history["lr"]
        span = f"[{_fmt(lr.iloc[0])}, {_fmt(lr.iloc[-1])}]" if len(lr) else "[]"
        others = ", ".join(f"{k}={_fmt(v)}" for k, v in self.suggestions.items())
        return (
            f"LRFinderResult(steps={len(lr)}, lr={span}, stop={self.stop_reason!r}, "
            f"suggestion={_fmt(self.suggestion)} ({self.rule}), {others})"
        )
