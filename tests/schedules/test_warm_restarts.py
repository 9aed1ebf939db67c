"""WarmRestarts (SGDR) against a cycle-walking NumPy reference and Keras's CosineDecayRestarts."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import CyclicLR, WarmRestarts
from tests.schedules._reference import sgdr, sgdr_cosine, values

pytestmark = pytest.mark.backend


@pytest.mark.parametrize("t_mult,m_mul", [(1.0, 1.0), (2.0, 1.0), (2.0, 0.5), (1.5, 0.8)])
def test_cosine_matches_reference(t_mult, m_mul):
    sched = WarmRestarts(20, t_mult=t_mult, m_mul=m_mul, initial_learning_rate=0.1, alpha=0.1)
    t = np.arange(0, 300, 7).tolist() + [19, 20, 59, 60, 139, 140]
    expected = [sgdr_cosine(s, 20, t_mult, m_mul, 0.1, 0.1) for s in t]
    np.testing.assert_allclose(values(sched, t), expected, rtol=1e-5, atol=1e-7)


def test_same_as_keras_cosine_decay_restarts():
    ours = WarmRestarts(25, t_mult=2.0, m_mul=0.7, initial_learning_rate=0.05, alpha=0.02)
    keras_sched = keras.optimizers.schedules.CosineDecayRestarts(0.05, 25, 2.0, 0.7, 0.02)
    t = np.arange(0, 400, 3)
    np.testing.assert_allclose(values(ours, t), values(keras_sched, t), rtol=1e-4, atol=1e-7)


def test_restarts_any_schedule():
    base = keras.optimizers.schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)
    sched = WarmRestarts(base, t_mult=2.0, period=10)
    t = np.arange(0, 70)
    expected = [sgdr(s, 10, 2.0, 1.0, lambda tau: 1.0 - tau) for s in t]
    np.testing.assert_allclose(values(sched, t), expected, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(period=st.integers(2, 60), m_mul=st.floats(0.3, 1.0), lr=st.floats(1e-4, 1.0))
def test_period_repeats_and_bounds(period, m_mul, lr):
    sched = WarmRestarts(period, m_mul=m_mul, initial_learning_rate=lr)
    t = np.arange(64)
    v, next_cycle = values(sched, t), values(sched, t + period)
    np.testing.assert_allclose(next_cycle, v * m_mul, rtol=1e-4, atol=1e-9)  # alpha = 0
    assert np.all(v >= -1e-9) and np.all(v <= lr * (1 + 1e-6))
    base = WarmRestarts(CyclicLR(0.1, 0.2, period / 2), period=period)
    np.testing.assert_allclose(values(base, t + period), values(base, t), atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="Argument `initial_learning_rate` must be a positive"):
        WarmRestarts(100)
    with pytest.raises(ValueError, match="Argument `period` must be a positive number when"):
        WarmRestarts(keras.optimizers.schedules.CosineDecay(0.1, 10))
    with pytest.raises(ValueError, match="Argument `t_mult` must be >= 1"):
        WarmRestarts(10, t_mult=0.5, initial_learning_rate=0.1)
    with pytest.raises(ValueError, match="Argument `schedule_or_period` must be > 0"):
        WarmRestarts(-5, initial_learning_rate=0.1)
    with pytest.raises(ValueError, match="Argument `m_mul` must be > 0"):
        WarmRestarts(10, m_mul=0.0, initial_learning_rate=0.1)
