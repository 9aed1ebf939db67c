"""LRFinderResult on synthetic histories: suggestions, plot, CSV, repr, validation."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from keras_recipes.lr_finder import LRFinderResult
from tests.helpers import drawn_past_the_edge


def _history(n=61):
    lrs = np.logspace(-6, 0, n)
    loss = -np.tanh((np.log10(lrs) + 3) / 0.5)
    return pd.DataFrame({"lr": lrs, "loss": loss + 0.01, "smoothed_loss": loss})


def test_suggestions_are_computed_on_trimmed_smoothed_curve():
    result = LRFinderResult(_history(), rule="steepest")
    assert set(result.suggestions) == {"steepest", "minimum", "valley", "combined"}
    # Closed form: the smoothed curve is steepest at 1e-3 (inside the trimmed window).
    assert result.suggestion == pytest.approx(1e-3, rel=1e-9)
    assert result.suggestion == result.suggestions["steepest"]
    # The window skips 6 points at the start and 5 at the end: min at index 55 → lr/10.
    lrs = np.logspace(-6, 0, 61)
    assert result.suggestions["minimum"] == pytest.approx(lrs[55] / 10)
    assert LRFinderResult(_history(), rule="minimum").suggestion == result.suggestions["minimum"]


def test_best_loss_and_lr_at_best_loss_skip_non_finite():
    h = _history(11)
    h.loc[10, "smoothed_loss"] = np.nan
    result = LRFinderResult(h, stop_reason="non_finite")
    assert result.lr_at_best_loss == pytest.approx(h["lr"][9])
    assert result.best_loss == pytest.approx(h["smoothed_loss"][9])


def test_plot_is_log_x_with_suggestions_marked():
    result = LRFinderResult(_history())
    fig = result.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    for rule in ("steepest", "minimum", "valley"):
        assert any(label.startswith(f"{rule}:") for label in labels)
    # An existing Axes is drawn on, and its figure returned.
    other = Figure()
    ax2 = other.add_subplot()
    assert result.plot(ax=ax2) is other


def test_plot_without_suggestions_still_draws():
    h = _history(4)
    with pytest.warns(RuntimeWarning, match="Too few"):
        result = LRFinderResult(h)
    assert result.suggestion is None
    assert len(result.plot().axes[0].get_lines()) == 2


def test_to_csv_round_trip(tmp_path):
    result = LRFinderResult(_history())
    text = result.to_csv()
    back = pd.read_csv(io.StringIO(text))
    assert list(back.columns) == ["lr", "loss", "smoothed_loss"]
    np.testing.assert_allclose(back.to_numpy(), result.history.to_numpy(), rtol=1e-12)
    path = tmp_path / "curve.csv"
    assert result.to_csv(path) is None
    assert path.read_text() == text


def test_repr_is_readable():
    text = repr(LRFinderResult(_history(), stop_reason="diverged"))
    assert text.startswith("LRFinderResult(steps=61, lr=[1e-06, 1]")
    assert "stop='diverged'" in text and "(combined)" in text and "steepest=0.001" in text


def test_bad_arguments():
    with pytest.raises(ValueError, match="columns"):
        LRFinderResult(pd.DataFrame({"lr": [1.0]}))
    with pytest.raises(ValueError, match="Argument `suggest` must be one of"):
        LRFinderResult(_history(), rule="best")
    with pytest.raises(ValueError, match="stop_reason"):
        LRFinderResult(_history(), stop_reason="tired")
    with pytest.raises(ValueError, match="loss_kind"):
        LRFinderResult(_history(), loss_kind="test")


def test_plot_cuts_no_label_off_when_saved_as_it_is():
    assert not drawn_past_the_edge(LRFinderResult(_history()).plot())
