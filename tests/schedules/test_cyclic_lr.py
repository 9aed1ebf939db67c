"""CyclicLR: Smith's triangular, triangular2 and exp_range against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import CyclicLR
from tests.schedules._reference import clr, values

pytestmark = pytest.mark.backend

STEPS = [0, 1, 500, 1999, 2000, 2001, 3000, 4000, 5000, 6000, 9999, 10000, 14321]


@pytest.mark.parametrize("mode,gamma", [("triangular", 1.0), ("triangular2", 1.0),
                                        ("exp_range", 0.99994)])
def test_matches_smith(mode, gamma):
    sched = CyclicLR(0.001, 0.006, 2000, mode=mode, gamma=gamma)
    expected = [clr(t, 0.001, 0.006, 2000, mode, gamma) for t in STEPS]
    np.testing.assert_allclose(values(sched, STEPS), expected, rtol=1e-5, atol=1e-9)


def test_hand_values():
    sched = CyclicLR(0.1, 0.5, 4)
    # Rises 0.1 per step for 4 steps, falls back, restarts at step 8.
    np.testing.assert_allclose(values(sched, range(10)),
                               [0.1, 0.2, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2, 0.1, 0.2], rtol=1e-6)
    halved = CyclicLR(0.0, 1.0, 2, mode="triangular2")
    assert values(halved, [2, 6, 10]).tolist() == pytest.approx([1.0, 0.5, 0.25])


@settings(max_examples=25, deadline=None)
@given(base=st.floats(0, 1), span=st.floats(1e-3, 1), step_size=st.integers(1, 50),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
       gamma=st.floats(0.9, 1.0))
def test_bounds_and_period(base, span, step_size, mode, gamma):
    sched = CyclicLR(base, base + span, step_size, mode=mode, gamma=gamma)
    t = np.arange(64) * 3 + 1  # one array shape for every example (no recompilation)
    v = values(sched, t)
    assert np.all(v >= base - 1e-6) and np.all(v <= base + span + 1e-6)
    if mode == "triangular":  # one period = 2·step_size repeats exactly
        # float32 steps: t / step_size carries ~1e-5 relative rounding at these t
        np.testing.assert_allclose(values(sched, t + 2 * step_size), v, atol=2e-5 * (base + span))


@pytest.mark.parametrize("kwargs,match", [
    (dict(base_lr=0.1, max_lr=0.1, step_size=10), "Argument `max_lr` must be > `base_lr`"),
    (dict(base_lr=0.1, max_lr=0.01, step_size=10), "Received: base_lr=0.1, max_lr=0.01"),
    (dict(base_lr=0.1, max_lr=1.0, step_size=0), "Argument `step_size` must be > 0"),
    (dict(base_lr=0.1, max_lr=1.0, step_size=-3), "Received: step_size=-3"),
    (dict(base_lr=0.1, max_lr=1.0, step_size=5, mode="sine"), "Argument `mode` must be one of"),
    (dict(base_lr=0.1, max_lr=1.0, step_size=5, gamma=1.5), "Argument `gamma`"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CyclicLR(**kwargs)
