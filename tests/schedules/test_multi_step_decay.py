"""MultiStepDecay: seed-000 training schedule, DeepSeek, scaling a schedule, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import MultiStepDecay
from tests.schedules._reference import values

pytestmark = pytest.mark.backend


def test_seed_training_schedule_in_epochs():
    # Seed 000: epoch 0 -> 0.1, 75 -> 0.01, 125 -> 0.001, 175 -> 0.0001.
    spe = 10
    sched = MultiStepDecay([75, 125, 175], factor=0.1, initial_learning_rate=0.1,
                           steps_per_epoch=spe)
    epochs = np.array([0, 74, 75, 124, 125, 174, 175, 199])
    expected = [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]
    np.testing.assert_allclose(values(sched, epochs * spe), expected, rtol=1e-6)
    assert values(sched, [75 * spe - 1])[0] == pytest.approx(0.1)  # last step of epoch 74


def test_deepseek_values():
    peak = 4.2e-4  # 80% and 90% of 1000 steps
    sched = MultiStepDecay([800, 900], values=[peak, 0.316 * peak, 0.1 * peak])
    np.testing.assert_allclose(values(sched, [0, 799, 800, 899, 900, 999]),
                               [peak, peak, 0.316 * peak, 0.316 * peak, 0.1 * peak, 0.1 * peak],
                               rtol=1e-6)


def test_scales_a_schedule():
    base = keras.optimizers.schedules.CosineDecay(1.0, 100)
    sched = MultiStepDecay([40], values=[1.0, 0.5], initial_learning_rate=base)
    t = np.array([0, 39, 40, 80])
    expected = 0.5 * (1 + np.cos(np.pi * t / 100)) * np.where(t >= 40, 0.5, 1.0)
    np.testing.assert_allclose(values(sched, t), expected, rtol=1e-5, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(bounds=st.lists(st.integers(0, 500), min_size=1, max_size=4, unique=True),
       factor=st.floats(0.05, 0.9), lr=st.floats(1e-4, 1.0))
def test_monotone_and_piecewise(bounds, factor, lr):
    bounds = sorted(bounds)
    sched = MultiStepDecay(bounds, factor=factor, initial_learning_rate=lr)
    t = np.arange(0, 512, 4)
    v = values(sched, t)
    idx = np.searchsorted(np.array(bounds), t, side="right")  # #{b <= t}
    np.testing.assert_allclose(v, lr * factor**idx, rtol=1e-5)
    assert np.all(np.diff(v) <= 1e-12)


@pytest.mark.parametrize("kwargs,match", [
    (dict(boundaries=[10, 5], initial_learning_rate=0.1), "Argument `boundaries` must be "
     r"strictly increasing. Received: boundaries=\[10, 5\]"),
    (dict(boundaries=[5, 5], initial_learning_rate=0.1), "strictly increasing"),
    (dict(boundaries=[5, 10], values=[1.0, 0.1]), r"Argument `values` must hold "
     r"len\(boundaries\) \+ 1 numbers"),
    (dict(boundaries=[5]), "Either `values` or `initial_learning_rate`"),
    (dict(boundaries=[5], values=[1.0, 0.1], initial_learning_rate=0.1), "not both"),
    (dict(boundaries=[5], factor=0.0, initial_learning_rate=0.1), "Argument `factor`"),
    (dict(boundaries=[-1], initial_learning_rate=0.1), "Argument `boundaries` must be >= 0"),
    (dict(boundaries="abc", initial_learning_rate=0.1), "Argument `boundaries`"),
    (dict(boundaries=[5], values=[-0.1, 0.01]),
     r"Argument `values` must be >= 0\. Received: values=-0\.1"),
    (dict(boundaries=[5], values=0.1), "Argument `values` must be a sequence"),
    (dict(boundaries=[5], initial_learning_rate="fast"),
     "Argument `initial_learning_rate` must be a number >= 0 or a `LearningRateSchedule`"),
    (dict(boundaries=[5], initial_learning_rate=-0.1),
     "Argument `initial_learning_rate` must be >= 0"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiStepDecay(**kwargs)
