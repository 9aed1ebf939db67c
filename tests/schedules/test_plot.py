"""plot_schedule returns a figure with the schedule's values, and shows nothing."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from keras_recipes.schedules import CyclicLR, OneCycle, plot_schedule, schedule_values
from tests.helpers import drawn_past_the_edge


def test_plot_single_and_many():
    fig = plot_schedule(OneCycle(0.1, 40), 40)
    assert isinstance(fig, Figure)
    y = fig.axes[0].lines[0].get_ydata()
    assert len(y) == 40 and np.argmax(y) == 10  # peak at pct_start · total_steps
    assert fig.axes[0].get_title() == "OneCycle"
    fig = plot_schedule({"clr": CyclicLR(0.1, 0.2, 5), "const": 0.15}, 20, logy=True)
    assert [line.get_label() for line in fig.axes[0].lines] == ["clr", "const"]
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), 0.15)


def test_values_fallback_for_scalar_only_callables():
    steps, v = schedule_values(lambda step: 0.1 * float(step), [0, 1, 2])
    np.testing.assert_allclose(v, [0.0, 0.1, 0.2])
    steps, v = schedule_values(keras.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5), 3)
    np.testing.assert_allclose(v, [1.0, 0.5, 0.25], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="Argument `steps` must be > 0"):
        plot_schedule(0.1, 0)
    with pytest.raises(ValueError, match="Argument `schedule` must be"):
        plot_schedule("cosine", 10)


def test_nothing_is_cut_off_when_saved_as_it_is():
    assert not drawn_past_the_edge(plot_schedule(OneCycle(0.1, 40), 40))
    assert not drawn_past_the_edge(plot_schedule({"a": 0.1, "b": 0.2}, 20, logy=True))
