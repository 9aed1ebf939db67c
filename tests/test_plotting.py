"""Figures: smoothing reference, learning curves, activation statistics, update ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from keras_recipes.plotting import (
    plot_activation_stats,
    plot_learning_curves,
    plot_update_ratios,
    smooth,
)
from tests.helpers import drawn_past_the_edge


def test_smooth_matches_debiased_ema_by_hand():
    values = [4.0, 2.0, 1.0]
    w = 0.5
    # s1 = 0.5·4 = 2 → /(1-0.5) = 4; s2 = 0.5·2 + 0.5·2 = 2 → /(1-0.25) = 8/3;
    # s3 = 0.5·2 + 0.5·1 = 1.5 → /(1-0.125) = 12/7.
    np.testing.assert_allclose(smooth(values, w), [4.0, 8 / 3, 12 / 7])
    np.testing.assert_array_equal(smooth(values, 0.0), values)
    out = smooth([1.0, float("nan"), 1.0], 0.9)
    assert np.isnan(out[1]) and out[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Argument `weight` must be"):
        smooth(values, 1.0)


def _frame():
    rows = []
    for e in (0, 1, 2):
        if e:
            rows += [(e, "model", "loss", 1.0 / e), (e, "model", "val_loss", 1.2 / e)]
            rows += [(e, "dense", "update_ratio_per_step", 1e-3 * e),
                     (e, "dense", "update_ratio", 0.05 * e),
                     (e, "head", "update_ratio_per_step", 2e-3)]
        for layer in ("dense", "relu"):
            rows += [(e, layer, "act_mean", 0.1 * e), (e, layer, "act_std", 1.0),
                     (e, layer, "act_zero_fraction", 0.5), (e, layer, "act_dead_fraction", 0.0)]
            rows += [(e, layer, f"hist_{i:02d}", float(i + e)) for i in range(4)]
    return pd.DataFrame(rows, columns=["epoch", "layer", "stat", "value"])


def test_learning_curves_draw_raw_and_smoothed_train_and_val():
    logs = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.8], "accuracy": [0.5, 0.7, 0.8],
            "val_accuracy": [0.4, 0.6, 0.7]}
    fig = plot_learning_curves(logs, smoothing=0.5)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4  # raw + smoothed, train + val
    np.testing.assert_allclose(lines[1].get_ydata(), smooth(logs["loss"], 0.5))
    with pytest.raises(ValueError, match="Argument `metrics` must name logged values"):
        plot_learning_curves(logs, metrics=["auc"])


def test_activation_stats_has_colorful_dimension_heatmap():
    fig = plot_activation_stats(_frame(), histogram_range=(-2.0, 2.0))
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    mesh = fig.axes[2].collections[0]
    # 4 bins × 3 epochs, colour = log(1 + count)
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(4, 3)[:, 0],
                               np.log1p([0.0, 1.0, 2.0, 3.0]))
    assert len(plot_activation_stats(_frame(), layers=["relu"]).axes) == 3
    with pytest.raises(ValueError, match="Argument `layers` must name recorded layers"):
        plot_activation_stats(_frame(), layers=["nope"])
    with pytest.raises(ValueError, match="must hold activation statistics"):
        plot_activation_stats({"loss": [1.0]})


def test_update_ratios_log_scale_per_layer():
    fig = plot_update_ratios(_frame())
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert {"dense", "head", "1e-3"} <= set(labels)
    per_record = plot_update_ratios(_frame(), per_step=False).axes[0]
    np.testing.assert_allclose(per_record.get_lines()[0].get_ydata(), [0.05, 0.1])
    with pytest.raises(ValueError, match="must hold update statistics"):
        plot_update_ratios({"loss": [1.0]})


def test_figures_from_a_real_logger(tiny_digits, tiny_mlp, seed):
    from keras_recipes.diagnostics import DiagnosticLogger

    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:32], y[:32]), gradients=False)
    tiny_mlp().fit(x, y, epochs=2, batch_size=100, verbose=0, callbacks=[logger])
    for fig in (plot_learning_curves(logger), plot_activation_stats(logger),
                plot_update_ratios(logger)):
        assert isinstance(fig, Figure) and fig.axes


def test_learning_curves_say_raw_smoothed_and_mode_with_whole_epoch_ticks():
    logs = {"loss": [0.7, 0.6, 0.4, 0.2, 0.1], "val_loss": [0.7, 0.65, 0.5, 0.3, 0.2],
            "accuracy": [0.5, 0.6, 0.75, 0.9, 1.0], "val_accuracy": [0.5, 0.55, 0.7, 0.86, 1.0]}
    fig = plot_learning_curves(logs, smoothing=0.6)
    ax = fig.axes[1]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train (raw)", "train (smoothed, weight 0.6)", "val (raw)",
                      "val (smoothed, weight 0.6)"]
    # The raw last value is written at the curve's end: 1.0, not the lagging EMA (0.85).
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["1", "1"]
    # The note under the panels says which mode each curve was measured in.
    assert "training mode" in fig.get_supxlabel()
    assert "inference mode" in fig.get_supxlabel()
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert not drawn_past_the_edge(fig)


def test_learning_curves_without_smoothing_draw_the_raw_values_only():
    fig = plot_learning_curves({"loss": [1.0, 0.5]}, smoothing=0.0)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["train (raw)"]
    np.testing.assert_allclose(lines[0].get_ydata(), [1.0, 0.5])


def test_activation_and_update_figures_use_whole_epoch_ticks():
    for fig in (plot_activation_stats(_frame()), plot_update_ratios(_frame())):
        fig.canvas.draw()
        for ax in fig.axes:
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            assert all(float(t).is_integer() for t in ticks), ticks
