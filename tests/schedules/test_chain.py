"""Chain: phases on their own clocks, continuity where the phases meet."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import Chain, Warmup
from tests.schedules._reference import values

pytestmark = pytest.mark.backend


def test_warmup_flat_cosine():
    sched = Chain([(10, Warmup(1.0, 10)), (20, 1.0),
                   (None, keras.optimizers.schedules.CosineDecay(1.0, 30))])
    t = np.arange(0, 70)
    expected = np.where(t < 10, t / 10, np.where(
        t < 30, 1.0, 0.5 * (1 + np.cos(np.pi * np.minimum(t - 30, 30) / 30))))
    np.testing.assert_allclose(values(sched, t), expected, atol=1e-6)


def test_each_phase_restarts_its_clock():
    decay = keras.optimizers.schedules.PolynomialDecay(1.0, 4, end_learning_rate=0.0)
    sched = Chain([(4, decay), (4, decay)])
    np.testing.assert_allclose(values(sched, range(9)),
                               [1, 0.75, 0.5, 0.25, 1, 0.75, 0.5, 0.25, 0], atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(n1=st.integers(1, 100), n2=st.integers(1, 100), peak=st.floats(1e-4, 1.0))
def test_continuous_when_phases_meet(n1, n2, peak):
    cosine = keras.optimizers.schedules.CosineDecay(peak, 100)
    sched = Chain([(n1, Warmup(peak, n1)), (n2, peak), (None, cosine)])
    t = np.concatenate([[n1 - 1, n1, n1 + 1, n1 + n2 - 1, n1 + n2, n1 + n2 + 1],
                        np.linspace(0, n1 + n2 + 5, 26).astype(int)])  # one shape
    v = values(sched, t)
    jumps = np.abs(np.diff(v[:3])).tolist() + np.abs(np.diff(v[3:6])).tolist()
    # Adjacent steps around both boundaries differ by at most one step of the ramp/cosine.
    assert max(jumps) <= peak / n1 + peak * np.pi / 200 + 1e-7
    assert np.all(v >= 0) and np.all(v <= peak * (1 + 1e-6))


def test_errors():
    with pytest.raises(ValueError, match="Argument `phases` must be a non-empty"):
        Chain([])
    with pytest.raises(ValueError, match="Argument `phases` must be positive step counts"):
        Chain([(None, 0.1), (10, 0.01)])
    with pytest.raises(ValueError, match="Argument `phases` must be > 0"):
        Chain([(0, 0.1), (10, 0.01)])
    with pytest.raises(ValueError, match="Argument `phases` must be a"):
        Chain([(10, "cosine")])
    with pytest.raises(ValueError, match=r"Argument `phases` must be .* a number >= 0"):
        Chain([(10, 0.1), (None, -0.01)])
