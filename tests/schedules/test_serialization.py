"""Every schedule: config round trip and `.keras` round trip inside an optimizer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_recipes.schedules import (
    Chain,
    CyclicLR,
    InverseSqrtDecay,
    MultiStepDecay,
    OneCycle,
    OneCycleMomentum,
    WarmRestarts,
    Warmup,
)
from tests.schedules._reference import values

pytestmark = pytest.mark.backend


def _all():
    cosine = keras.optimizers.schedules.CosineDecay(0.1, 100)
    return [
        MultiStepDecay([75, 125], factor=0.1, initial_learning_rate=0.1, steps_per_epoch=4),
        MultiStepDecay([5, 8], values=[1.0, 0.5, 0.25], initial_learning_rate=cosine),
        InverseSqrtDecay(0.1, 40),
        Warmup(cosine, 10, start_value=0.01, shape="cosine"),
        Chain([(10, Warmup(0.1, 10)), (20, 0.1), (None, cosine)]),
        WarmRestarts(30, t_mult=2.0, m_mul=0.5, initial_learning_rate=0.1, alpha=0.1),
        WarmRestarts(Warmup(cosine, 5), t_mult=1.5, period=30),
        CyclicLR(0.01, 0.1, 7, mode="exp_range", gamma=0.99),
        OneCycle(0.1, 100, pct_start=0.3, anneal="linear"),
        OneCycleMomentum(100, 0.3, 0.9, 0.8),
    ]


@pytest.mark.parametrize("schedule", _all(), ids=lambda s: type(s).__name__)
def test_config_roundtrip_same_values(schedule, config_roundtrip):
    rebuilt = config_roundtrip(schedule)
    t = np.arange(0, 200, 3)
    np.testing.assert_allclose(values(rebuilt, t), values(schedule, t), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(base=st.floats(0, 1), span=st.floats(1e-3, 1), step=st.integers(1, 100),
       total=st.integers(2, 1000), pct=st.floats(0.01, 0.99))
def test_config_roundtrip_property(base, span, step, total, pct):
    for sched in (CyclicLR(base, base + span, step), OneCycle(span, total, pct),
                  WarmRestarts(step, t_mult=1 + pct, initial_learning_rate=span)):
        again = type(sched).from_config(sched.get_config())
        assert again.get_config() == sched.get_config()


def test_model_roundtrip_with_nested_schedule(tiny_regression, model_roundtrip):
    x, y = tiny_regression
    sched = Chain([(4, Warmup(0.05, 4)), (None, WarmRestarts(
        CyclicLR(0.01, 0.05, 3), period=6, m_mul=0.5))])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(sched, momentum=0.9), "mse")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    loaded = model_roundtrip(model, x[:8])
    assert type(loaded.optimizer.get_config()["learning_rate"]) is dict
    assert float(loaded.optimizer.learning_rate) == pytest.approx(
        float(model.optimizer.learning_rate))
