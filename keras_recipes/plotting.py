"""Figures of a training run: learning curves, activation statistics, update ratios.

Every function takes what :func:`keras_recipes.diagnostics.diagnose` takes (a History, a
:class:`~keras_recipes.diagnostics.DiagnosticLogger`, a tidy or wide DataFrame, a dict of
logs) and returns a ``matplotlib.figure.Figure``. Nothing is shown: call ``fig.savefig`` or
display the figure in a notebook. The figures are built without ``pyplot``, so they leave no
global state behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_recipes._validation import check_probability

__all__ = ["plot_activation_stats", "plot_learning_curves", "plot_update_ratios", "smooth"]

#: The update/weight ratio's rule of thumb and the band outside which the doctor warns.
RATIO_TARGET = 1e-3
RATIO_BAND = (1e-4, 1e-1)


def smooth(values: Sequence[float], weight: float = 0.6) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average.

    ``s_t = weight·s_{t-1} + (1 − weight)·x_t`` with ``s_0 = 0``, divided by
    ``1 − weight^t`` so the first points are not pulled towards 0. Non-finite values are
    carried over without entering the average.

    Args:
        values: the raw series.
        weight: smoothing weight in ``[0, 1)``; 0 returns the series unchanged.
            Defaults to ``0.6``.

    Returns:
        The smoothed series, same length.

    Example:

    >>> from keras_recipes.plotting import smooth
    >>> [round(float(v), 3) for v in smooth([1.0, 0.0], weight=0.5)]
    [1.0, 0.333]
    """
    check_probability("weight", weight)
    x = np.asarray(values, dtype="float64").reshape(-1)
    out = np.empty_like(x)
    acc, n = 0.0, 0
    for i, v in enumerate(x):
        if not np.isfinite(v):
            out[i] = v
            continue
        n += 1
        acc = weight * acc + (1.0 - weight) * v
        out[i] = acc / (1.0 - weight**n)
    return out


def _figure(rows: int, cols: int, size: tuple[float, float]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    return fig, axes


#: What the two curves of a learning-curve panel measure (Keras's ``fit`` conventions).
_MODES = ("train: mean over the epoch's batches, in training mode\n"
          "(dropout on, BatchNorm batch statistics); val: at the epoch's end, in inference mode")


def _integer_ticks(ax) -> None:
    """Epoch axes get whole-number ticks (an epoch 1.5 does not exist)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _record(source: Any):
    from keras_recipes.diagnostics.run_record import as_record

    return as_record(source)


def plot_learning_curves(
    source: Any, metrics: Sequence[str] | None = None, smoothing: float = 0.6
):
    """Learning curves, train against validation, raw (with dots) and smoothed (bold).

    Every curve is labelled: ``train (raw)``, ``train (smoothed, weight 0.6)`` and the same
    for ``val``; each raw curve's last value is written at its end, so a smoothed line that
    lags behind a fast change does not hide where the run ended. A note under the panels
    says what each curve measures: Keras's training metrics are the mean over the epoch's
    batches in training mode (dropout on, BatchNorm batch statistics), the validation
    metrics are measured at the epoch's end in inference mode. Epoch ticks are whole numbers.

    Use it to read a run the way seed 004 does: under- or overfitting, stopped too early,
    learning rate too high.

    Args:
        source: a History, a DiagnosticLogger, a DataFrame or a dict of per-epoch logs.
        metrics: names to plot (each with its ``val_`` twin when logged). Defaults to
            ``loss`` plus the accuracy when logged.
        smoothing: weight of the :func:`smooth` moving average; ``0`` draws the raw
            curves only. Defaults to ``0.6``.

    Returns:
        A ``matplotlib.figure.Figure`` with one panel per metric.

    Example:

    >>> from keras_recipes.plotting import plot_learning_curves
    >>> fig = plot_learning_curves({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.8]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss']
    """
    check_probability("smoothing", smoothing)
    run = _record(source)
    if metrics is None:
        metrics = ["loss"] + ([run.accuracy_key()] if run.accuracy_key() else [])
    missing = [m for m in metrics if run.curve(m) is None]
    if missing:
        raise ValueError(f"Argument `metrics` must name logged values {sorted(run.curves)}. "
                         f"Received: metrics={list(metrics)}")
    fig, axes = _figure(1, len(metrics), (5.0, 3.8))
    for ax, name in zip(axes[0], metrics, strict=True):
        for key, color in ((name, "tab:blue"), (f"val_{name}", "tab:orange")):
            values = run.curve(key)
            if values is None:
                continue
            epochs = np.arange(1, len(values) + 1)
            label = "val" if key.startswith("val_") else "train"
            ax.plot(epochs, values, color=color, alpha=0.5, linewidth=1, marker=".",
                    label=f"{label} (raw)")
            if smoothing > 0:
                ax.plot(epochs, smooth(values, smoothing), color=color, linewidth=2,
                        label=f"{label} (smoothed, weight {smoothing:g})")
            last = float(values[-1])
            if np.isfinite(last):
                ax.annotate(f"{last:.3g}", (epochs[-1], last), textcoords="offset points",
                            xytext=(4, 0), va="center", fontsize="small", color=color)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.margins(x=0.12)  # room for the last values' labels
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.supxlabel(_MODES, fontsize="x-small")
    return fig


def plot_activation_stats(
    source: Any, layers: Sequence[str] | None = None,
    histogram_range: tuple[float, float] | None = None,
):
    """Per-layer activation statistics over training, with a "colorful dimension" heatmap.

    One row per hidden layer: the mean ± std of its activations on the probe batch, the
    fractions of exact zeros and of dead units, and the histogram of activations over
    time (x: epoch, y: activation value, colour: log(1 + count)), as in fastai's "colorful
    dimension". A healthy layer keeps a smooth, wide band; a collapse to one row near 0
    means dead or saturated units.

    Args:
        source: a DiagnosticLogger, or its tidy frame (e.g. a reloaded diagnostics.csv).
        layers: hidden layers to draw. Defaults to every recorded hidden layer.
        histogram_range: value range of the histogram bins. Defaults to the logger's
            (``(-5, 5)`` for a frame without summary).

    Returns:
        A ``matplotlib.figure.Figure`` with one row per layer and three columns.

    Example:

    >>> import pandas as pd
    >>> from keras_recipes.plotting import plot_activation_stats
    >>> rows = [(e, "relu", s, v) for e in (0, 1) for s, v in
    ...         [("act_mean", 0.5), ("act_std", 0.2), ("act_zero_fraction", 0.4),
    ...          ("act_dead_fraction", 0.0), ("hist_00", 3.0), ("hist_01", 5.0)]]
    >>> rows += [(1, "model", "loss", 1.0)]
    >>> frame = pd.DataFrame(rows, columns=["epoch", "layer", "stat", "value"])
    >>> len(plot_activation_stats(frame).axes)
    3
    """
    run = _record(source)
    mean = run.layer_stat("act_mean")
    if mean.empty:
        raise ValueError("Argument `source` must hold activation statistics (a "
                         "DiagnosticLogger run with activations=True). Received: none")
    names = list(mean.columns) if layers is None else list(layers)
    unknown = [n for n in names if n not in mean.columns]
    if unknown:
        raise ValueError(f"Argument `layers` must name recorded layers {list(mean.columns)}. "
                         f"Received: layers={names}")
    low, high = histogram_range or run.summary.get("histogram_range") or (-5.0, 5.0)
    std = run.layer_stat("act_std")
    zero, dead = run.layer_stat("act_zero_fraction"), run.layer_stat("act_dead_fraction")
    f = run.frame
    fig, axes = _figure(len(names), 3, (4.2, 2.6))
    for row, name in zip(axes, names, strict=True):
        epochs = mean.index.to_numpy()
        m, s = mean[name].to_numpy(), std[name].to_numpy() if name in std else 0 * mean[name]
        row[0].plot(epochs, m, color="tab:blue", label="mean")
        row[0].fill_between(epochs, m - s, m + s, color="tab:blue", alpha=0.2, label="± std")
        row[0].set_title(f"{name}: mean ± std")
        row[0].legend(fontsize="small")
        if name in zero:
            row[1].plot(zero.index, zero[name], label="zeros")
        if name in dead:
            row[1].plot(dead.index, dead[name], label="dead units")
        row[1].set_ylim(-0.02, 1.02)
        row[1].set_title(f"{name}: zero / dead fraction")
        row[1].legend(fontsize="small")
        hist = f[(f["layer"] == name) & f["stat"].str.startswith("hist_")]
        if not hist.empty:
            grid = hist.pivot_table(index="stat", columns="epoch", values="value",
                                    aggfunc="last").sort_index()
            e = grid.columns.to_numpy(dtype=float)
            x_edges = np.concatenate([e - 0.5, [e[-1] + 0.5]]) if len(e) else e
            y_edges = np.linspace(low, high, len(grid) + 1)
            row[2].pcolormesh(x_edges, y_edges, np.log1p(grid.to_numpy()), cmap="viridis",
                              shading="flat")
        row[2].set_title(f"{name}: histogram (log 1+count)")
        for ax in row:
            ax.set_xlabel("epoch")
            _integer_ticks(ax)
    return fig


def plot_update_ratios(source: Any, per_step: bool = True):
    """Update/weight ratio ``||ΔW|| / ||W||`` per layer over training (log scale).

    The dashed line is the rule of thumb ~1e-3 per step; the shaded band is where the doctor
    stays quiet. Far above: the learning rate is too high; far below: too low.

    Args:
        source: a DiagnosticLogger, or its tidy frame.
        per_step: plot the per-step ratio (the ratio between records divided by the steps
            between them) instead of the ratio between records. Defaults to ``True``.

    Returns:
        A ``matplotlib.figure.Figure``.

    Example:

    >>> import pandas as pd
    >>> from keras_recipes.plotting import plot_update_ratios
    >>> frame = pd.DataFrame([(1, "model", "loss", 1.0),
    ...                       (1, "dense", "update_ratio_per_step", 2e-3)],
    ...                      columns=["epoch", "layer", "stat", "value"])
    >>> plot_update_ratios(frame).axes[0].get_yscale()
    'log'
    """
    run = _record(source)
    stat = "update_ratio_per_step" if per_step else "update_ratio"
    table = run.layer_stat(stat)
    if table.empty:
        raise ValueError("Argument `source` must hold update statistics (a DiagnosticLogger "
                         "run with updates=True, at least one epoch). Received: none")
    fig, axes = _figure(1, 1, (6.0, 3.8))
    ax = axes[0, 0]
    for name in table.columns:
        values = table[name].where(table[name] > 0)
        ax.plot(table.index, values, marker="o", markersize=3, label=name)
    ax.set_yscale("log")
    if per_step:
        ax.axhline(RATIO_TARGET, color="black", linestyle="--", linewidth=1, label="1e-3")
        ax.axhspan(*RATIO_BAND, color="tab:green", alpha=0.08)
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("||ΔW|| / ||W||" + (" per step" if per_step else ""))
    ax.set_title("update / weight ratio per layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncol=2)
    return fig
