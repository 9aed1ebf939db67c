"""Warmup in front of any schedule: ramp shapes, continuity, LLaMA 3's recipe."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import CyclicLR, Warmup
from tests.schedules._reference import values

pytestmark = pytest.mark.backend


def test_linear_and_cosine_ramps():
    lin = Warmup(1.0, warmup_steps=10, start_value=0.2)
    t = np.arange(0, 13)
    expected = np.where(t < 10, 0.2 + 0.8 * t / 10, 1.0)
    np.testing.assert_allclose(values(lin, t), expected, rtol=1e-6)
    cos = Warmup(1.0, warmup_steps=10, shape="cosine")
    np.testing.assert_allclose(values(cos, t), np.where(t < 10, (1 - np.cos(np.pi * t / 10)) / 2,
                                                        1.0), atol=1e-6)


def test_llama3_recipe():
    peak, low, w, total = 8e-5, 8e-7, 8000, 1_200_000
    cosine = keras.optimizers.schedules.CosineDecay(peak, total - w, alpha=low / peak)
    sched = Warmup(cosine, warmup_steps=w)
    t = np.array([0, 4000, 8000, 8000 + (total - w) // 2, total, total + 10])
    tau = np.clip((t - w) / (total - w), 0, 1)
    after = low + (peak - low) * 0.5 * (1 + np.cos(np.pi * tau))
    expected = np.where(t < w, peak * t / w, after)
    np.testing.assert_allclose(values(sched, t), expected, rtol=1e-4, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(w=st.integers(1, 200), start=st.floats(0, 0.01), shape=st.sampled_from(["linear",
                                                                                "cosine"]))
def test_continuous_at_boundary_and_bounded(w, start, shape):
    base = CyclicLR(0.02, 0.1, step_size=50)
    sched = Warmup(base, warmup_steps=w, start_value=start, shape=shape)
    before, at, after = values(sched, [w - 1, w, w + 1])
    step = 0.08 / 50  # the base's largest change per step
    ramp = (0.02 - start) * (np.pi / 2 if shape == "cosine" else 1.0) / w
    assert abs(at - before) <= ramp + 1e-6 and abs(after - at) <= step + 1e-6
    assert at == pytest.approx(0.02, rel=1e-5)
    v = values(sched, np.linspace(0, w - 1, 32).astype(int))  # one shape: no recompiling
    assert np.all(v >= min(start, 0.02) - 1e-7) and np.all(v <= max(start, 0.02) + 1e-7)


def test_errors():
    with pytest.raises(ValueError, match="Argument `warmup_steps` must be > 0"):
        Warmup(0.1, warmup_steps=0)
    with pytest.raises(ValueError, match="Argument `warmup_steps` must be an integer"):
        Warmup(0.1, warmup_steps=2.5)
    with pytest.raises(ValueError, match="Argument `shape` must be one of"):
        Warmup(0.1, 10, shape="exp")
    with pytest.raises(ValueError, match="Argument `schedule` must be a"):
        Warmup("fast", 10)
    with pytest.raises(ValueError, match=r"Argument `schedule` must be .* a number >= 0\. "
                                         r"Received: schedule=-1\.0"):
        Warmup(-1.0, 5)
    with pytest.raises(ValueError, match="Argument `start_value` must be >= 0"):
        Warmup(0.1, 5, start_value=-0.01)
