"""InverseSqrtDecay, alone and as the Transformer schedule behind a warm-up."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import InverseSqrtDecay, Warmup
from tests.schedules._reference import values

pytestmark = pytest.mark.backend


def test_formula():
    t = np.array([0, 1, 3, 8, 99, 10_000])
    np.testing.assert_allclose(values(InverseSqrtDecay(2.0, decay_steps=1), t),
                               2.0 / np.sqrt(1 + t), rtol=1e-6)


def test_transformer_after_warmup():
    w = 400
    sched = Warmup(InverseSqrtDecay(1.0, decay_steps=w), warmup_steps=w)
    t = np.array([400, 800, 1600, 6400])
    np.testing.assert_allclose(values(sched, t), np.sqrt(w / t), rtol=1e-6)  # Vaswani et al.


@settings(max_examples=25, deadline=None)
@given(lr=st.floats(1e-5, 10), decay=st.floats(1, 1e4))
def test_decreasing_and_bounded(lr, decay):
    v = values(InverseSqrtDecay(lr, decay), np.arange(0, 5000, 50))
    assert v[0] == pytest.approx(lr, rel=1e-6)
    assert np.all(np.diff(v) <= 0) and np.all(v > 0)


def test_errors():
    with pytest.raises(ValueError, match="Argument `decay_steps` must be > 0"):
        InverseSqrtDecay(0.1, decay_steps=0)
    with pytest.raises(ValueError, match="Argument `initial_learning_rate` must be > 0"):
        InverseSqrtDecay(-0.1)
