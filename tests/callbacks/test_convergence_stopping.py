"""ConvergenceStopping: plateau and oscillation on hand-computed windows, then a real fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from keras_recipes.callbacks import ConvergenceStopping, StopReason
from keras_recipes.callbacks.convergence_stopping import (
    is_oscillating,
    relative_decrease,
    relative_spread,
)
from tests.callbacks._driver import drive


def rows(values, name="loss"):
    return [{name: v} for v in values]


def test_helpers_by_hand():
    # Line through (0, 1.0), (1, 0.9), (2, 0.8): slope −0.1, drop 0.2 over the window,
    # divided by the mean 0.9.
    assert relative_decrease([1.0, 0.9, 0.8]) == pytest.approx(0.2 / 0.9)
    assert relative_decrease([1.0, 0.9, 0.8], "max") == pytest.approx(-0.2 / 0.9)
    # Deviations from the mean 0.992: .008, −.002, .003, −.007, −.002 → variance 26e-6.
    window = [1.0, 0.99, 0.995, 0.985, 0.99]
    assert relative_spread(window) == pytest.approx(np.sqrt(26e-6) / 0.992)
    # Slope by hand: Σ(x−2)(v−v̄) = −0.025, Σ(x−2)² = 10 → −0.0025; drop 0.01 / 0.992.
    assert relative_decrease(window) == pytest.approx(0.01 / 0.992)
    assert is_oscillating(window)
    assert not is_oscillating([1.0, 0.998, 0.996, 0.994, 0.992])


def test_plateau_stops():
    # Windows of 3: [1, .5, .3] d=1.17, [.5, .3, .3] d=.2/.3667=.55, [.3, .3, .3] d=0.
    stopper = ConvergenceStopping(window=3, tolerance=1e-3)
    assert drive(stopper, rows([1.0, 0.5, 0.3, 0.3, 0.3, 0.3])) == 5
    assert stopper.stop_reason is StopReason.CONVERGED
    assert stopper.decrease == pytest.approx(0.0, abs=1e-12)


def test_oscillation_with_small_spread_stops():
    window = [1.0, 0.99, 0.995, 0.985, 0.99]  # d = 0.0101 > tolerance, spread = 0.0051
    stopper = ConvergenceStopping(window=5, tolerance=1e-3, oscillation_tolerance=0.01)
    assert drive(stopper, rows(window)) == 5
    assert stopper.stop_reason is StopReason.OSCILLATING
    # Too strict a spread bound: still running.
    strict = ConvergenceStopping(window=5, tolerance=1e-3, oscillation_tolerance=0.005)
    drive(strict, rows(window))
    assert strict.stop_reason is StopReason.NOT_STOPPED


def test_slow_steady_decrease_is_not_convergence():
    stopper = ConvergenceStopping(window=5, tolerance=1e-3, oscillation_tolerance=0.01)
    drive(stopper, rows([1.0, 0.998, 0.996, 0.994, 0.992]))
    assert stopper.stop_reason is StopReason.NOT_STOPPED
    assert stopper.decrease == pytest.approx(0.008 / 0.996)


def test_max_mode_accuracy_plateau_and_nan():
    stopper = ConvergenceStopping(monitor="accuracy", window=3, tolerance=1e-3)
    assert drive(stopper, rows([0.5, 0.7, 0.9, 0.9, 0.9], "accuracy")) == 5
    assert stopper.direction == "max"
    assert stopper.stop_reason is StopReason.CONVERGED
    nan = ConvergenceStopping(window=3)
    assert drive(nan, rows([1.0, float("nan"), 0.5])) == 2
    assert nan.stop_reason is StopReason.NON_FINITE


def test_two_runs_deepcopy_and_config(config_roundtrip):
    stopper = ConvergenceStopping(window=3, tolerance=1e-3)
    drive(stopper, rows([0.3, 0.3, 0.3]))
    assert stopper.stop_reason is StopReason.CONVERGED
    # A stale window would make the second run stop at its first epoch.
    assert drive(stopper, rows([1.0, 0.5, 0.2])) == 3
    assert stopper.stop_reason is StopReason.NOT_STOPPED
    assert copy.deepcopy(stopper).get_config() == stopper.get_config()
    config_roundtrip(ConvergenceStopping(window=4, tolerance=0.01, oscillation_tolerance=0.1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 1}, "Argument `window` must be >= 2"),
        ({"window": 2.5}, "Argument `window` must be an integer"),
        ({"tolerance": 0}, "Argument `tolerance` must be > 0"),
        ({"oscillation_tolerance": -1.0}, "Argument `oscillation_tolerance` must be > 0"),
        ({"mode": "down"}, "Argument `mode` must be one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvergenceStopping(**kwargs)


@pytest.mark.slow_elsewhere
@pytest.mark.backend
def test_fit_on_digits(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    model = tiny_mlp()
    stopper = ConvergenceStopping(window=3, tolerance=0.3)
    history = model.fit(x, y, epochs=10, batch_size=100, verbose=0, callbacks=[stopper])
    losses = history.history["loss"]
    assert stopper.stop_reason is StopReason.CONVERGED
    assert len(losses) < 10
    last = np.asarray(losses[-3:])
    slope = np.polyfit(np.arange(3), last, 1)[0]
    assert stopper.decrease == pytest.approx(-slope * 2 / last.mean(), rel=1e-5)
    assert stopper.decrease < 0.3
