"""OneCycle and its momentum cycle against fastai's formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import OneCycle, OneCycleMomentum
from tests.schedules._reference import one_cycle, values

pytestmark = pytest.mark.backend

STEPS = [0, 1, 50, 124, 125, 126, 300, 499, 500, 777, 999, 1000, 1200]


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_matches_fastai(anneal):
    sched = OneCycle(0.01, 1000, pct_start=0.125, anneal=anneal)
    expected = [one_cycle(t, 1000, 0.01, pct=0.125, anneal=anneal) for t in STEPS]
    np.testing.assert_allclose(values(sched, STEPS), expected, rtol=1e-5, atol=1e-9)


def test_fastai_defaults_start_peak_end():
    sched = OneCycle(0.01, 1000)  # pct_start=0.25, div=25, final_div=1e5
    start, peak, end = values(sched, [0, 250, 1000])
    assert start == pytest.approx(0.01 / 25)
    assert peak == pytest.approx(0.01)
    assert end == pytest.approx(0.01 / 1e5, rel=1e-3)
    assert values(sched, [5000])[0] == pytest.approx(end)  # held after total_steps


def test_momentum_cycle():
    sched = OneCycle(0.01, 1000, pct_start=0.3)
    mom = sched.momentum_schedule()
    assert isinstance(mom, OneCycleMomentum)
    expected = [one_cycle(t, 1000, None, pct=0.3, moms=(0.95, 0.85, 0.95)) for t in STEPS]
    np.testing.assert_allclose(values(mom, STEPS), expected, rtol=1e-6)
    # The momentum is lowest when the learning rate is highest.
    t = np.arange(1000)
    assert np.argmin(values(mom, t)) == np.argmax(values(sched, t)) == 300


@settings(max_examples=25, deadline=None)
@given(max_lr=st.floats(1e-4, 10), total=st.integers(2, 400), pct=st.floats(0.05, 0.95),
       div=st.floats(1.5, 100), final_div=st.floats(1.5, 1e6),
       anneal=st.sampled_from(["cos", "linear"]))
def test_bounds(max_lr, total, pct, div, final_div, anneal):
    # A fixed number of evaluation points keeps one array shape (no recompilation).
    v = values(OneCycle(max_lr, total, pct, div, final_div, anneal),
               np.linspace(0, total + 5, 64).astype(int))
    low = min(max_lr / div, max_lr / final_div)
    assert np.all(v <= max_lr * (1 + 1e-5)) and np.all(v >= low * (1 - 1e-5))
    assert v[0] == pytest.approx(max_lr / div, rel=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(pct_start=0.0), r"Argument `pct_start` must be > 0 and < 1. Received: pct_start=0.0"),
    (dict(pct_start=1.0), r"Argument `pct_start`.*Received: pct_start=1.0"),
    (dict(pct_start=1.5), r"Argument `pct_start`"),
    (dict(total_steps=0), r"Argument `total_steps` must be > 0"),
    (dict(max_lr=-1.0), r"Argument `max_lr` must be > 0"),
    (dict(anneal="exp"), r"Argument `anneal` must be one of"),
])
def test_errors(kwargs, match):
    args = dict(max_lr=0.1, total_steps=100) | kwargs
    with pytest.raises(ValueError, match=match):
        OneCycle(**args)
    with pytest.raises(ValueError, match="Argument `min_momentum`"):
        OneCycleMomentum(100, min_momentum=1.5)
