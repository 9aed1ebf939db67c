"""Playground: test functions, trajectories and the pictures the notes draw."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.playground import (
    TestFunction,
    plot_trajectories,
    quadratic_ravine,
    rosenbrock,
    saddle,
    trajectories,
)

pytestmark = pytest.mark.backend


def test_function_values_by_hand():
    assert quadratic_ravine(2.0, 10.0).value(1.0, 2.0) == pytest.approx(0.5 * (2 + 40))
    assert rosenbrock().value(1.0, 1.0) == 0.0
    assert rosenbrock().value(0.0, 0.0) == 1.0
    assert rosenbrock().value(-1.2, 1.0) == pytest.approx(24.2)
    assert saddle().value(2.0, 1.0) == 3.0


def test_sgd_trajectory_matches_hand_computation():
    # On the ravine, SGD is x_t = (1 - lr a)**t x_0, y_t = (1 - lr b)**t y_0.
    fn = quadratic_ravine(1.0, 20.0)
    df = trajectories({"sgd": keras.optimizers.SGD(0.01)}, fn, steps=20, start=(-4.0, 1.0))
    t = df["step"].to_numpy()
    np.testing.assert_allclose(df["x"], -4.0 * 0.99**t, rtol=1e-5)
    np.testing.assert_allclose(df["y"], 0.8**t, rtol=1e-4, atol=1e-6)
    assert list(df.columns) == ["optimizer", "step", "x", "y", "loss", "step_size"]
    assert df["step_size"].iloc[0] == 0.0


def test_momentum_crosses_the_ravine_and_adagrad_steps_shrink():
    fn = quadratic_ravine()
    df = trajectories({
        "sgd": keras.optimizers.SGD(0.01),
        "momentum": keras.optimizers.SGD(0.01, momentum=0.9),
        "adagrad": keras.optimizers.Adagrad(0.5, initial_accumulator_value=0.0),
    }, fn, steps=60)
    final = df[df["step"] == 60].set_index("optimizer")["loss"]
    assert final["momentum"] < 0.1 * final["sgd"]
    steps = df[df["optimizer"] == "adagrad"]["step_size"].to_numpy()[1:]
    assert steps[-1] < 0.1 * steps[0]
    assert np.all(np.diff(steps[:20]) < 1e-6)  # shrinking early steps


def test_plot_returns_a_figure():
    from matplotlib.figure import Figure

    fn = saddle()
    df = trajectories(keras.optimizers.SGD(0.1), fn, steps=5)
    fig = plot_trajectories(df, fn)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].lines) == 1
    fig2 = plot_trajectories(df, rosenbrock())
    assert fig2.axes[0].get_title().startswith("Rosenbrock")


def test_optimizer_passed_in_is_left_untouched():
    opt = keras.optimizers.Adam(0.1)
    trajectories({"adam": opt}, rosenbrock(), steps=3)
    assert not opt.built


def test_bad_input():
    fn = rosenbrock()
    with pytest.raises(ValueError, match="Argument `optimizers` must be a non-empty mapping"):
        trajectories({}, fn)
    with pytest.raises(ValueError, match="Argument `optimizers` must map labels"):
        trajectories({"x": "sgd"}, fn)
    with pytest.raises(ValueError, match="Argument `fn` must be a TestFunction"):
        trajectories(keras.optimizers.SGD(), lambda x, y: x)
    with pytest.raises(ValueError, match=r"Argument `steps` must be .*Received: steps=0"):
        trajectories(keras.optimizers.SGD(), fn, steps=0)
    with pytest.raises(ValueError, match=r"Argument `b` must be > 0"):
        quadratic_ravine(b=0)
    with pytest.raises(ValueError, match="Argument `df` must have the columns"):
        import pandas as pd

        plot_trajectories(pd.DataFrame({"x": [1]}), fn)
    assert isinstance(fn, TestFunction)
