"""The range test, the ε0 probe and LRFinder on a model compiled with this library's Lookahead.

Lookahead keeps the learning rate in its inner optimizer (config key ``inner``). The finder
must train a copy whose *inner* rate follows the sweep; the losses are checked against a
NumPy replay of SGD + Lookahead (Zhang et al., 2019) on a linear model.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.lr_finder import LRFinder, find_lr, find_max_stable_lr, lr_sweep
from keras_recipes.optimizers import Lookahead
from tests.lr_finder.conftest import assert_same_state, full_state

pytestmark = pytest.mark.backend

SYNC, ALPHA, BATCH = 3, 0.5, 16


def _linear(x, optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _lookahead(lr=0.05, **kwargs):
    return Lookahead(keras.optimizers.SGD(lr, **kwargs), sync_period=SYNC,
                     slow_step_size=ALPHA)


def _replay(model, x, y, lrs):
    """NumPy SGD + Lookahead on MSE; returns each batch's loss before its step.

    Batches in order (no shuffle), ``len(x) // BATCH`` per pass. Slow weights start as the
    weights at the first step; at inner iteration k·SYNC: φ ← φ + α(θ − φ), θ ← φ.
    """
    kernel, bias = (np.asarray(v, dtype="float64") for v in model.get_weights())
    w = np.concatenate([kernel[:, 0], bias])
    slow = w.copy()
    xb = np.hstack([x.astype("float64"), np.ones((len(x), 1))])
    yb = y.astype("float64")[:, 0]
    per_pass = len(x) // BATCH
    losses = []
    for i, lr in enumerate(lrs):
        rows = slice(BATCH * (i % per_pass), BATCH * (i % per_pass + 1))
        residual = xb[rows] @ w - yb[rows]
        losses.append(float(np.mean(residual**2)))
        w = w - lr * (2.0 / BATCH) * xb[rows].T @ residual
        if (i + 1) % SYNC == 0:
            slow = slow + ALPHA * (w - slow)
            w = slow.copy()
    return np.array(losses)


def test_range_test_drives_the_inner_rate_and_restores_bit_for_bit(tiny_regression):
    x, y = tiny_regression
    model = _linear(x, _lookahead())
    model.fit(x[:32], y[:32], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    before = full_state(model)
    assert before["iterations"] == 2  # slow weights and inner state exist and have moved
    result = find_lr(model, x, y, min_lr=1e-3, max_lr=0.2, num_steps=12, batch_size=BATCH,
                     shuffle=False, divergence_threshold=1e6)
    assert result.stop_reason == "completed"
    lrs = lr_sweep(1e-3, 0.2, 12)
    np.testing.assert_allclose(result.history["lr"], lrs, rtol=1e-12)
    np.testing.assert_allclose(result.history["loss"], _replay(model, x, y, lrs), rtol=2e-5)
    assert_same_state(before, full_state(model))
    inner = model.optimizer.inner_optimizer
    assert float(np.asarray(inner.learning_rate)) == pytest.approx(0.05)


def test_inner_schedule_object_comes_back(tiny_regression):
    x, y = tiny_regression
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5)
    model = _linear(x, _lookahead(schedule, momentum=0.9))
    model.fit(x[:32], y[:32], batch_size=BATCH, epochs=1, verbose=0)
    before = full_state(model)
    find_lr(model, x, y, min_lr=1e-3, max_lr=1.0, num_steps=10, batch_size=BATCH)
    assert_same_state(before, full_state(model))
    assert model.optimizer.inner_optimizer._learning_rate is schedule


def test_max_stable_lr_matches_the_replay(tiny_regression):
    x, y = tiny_regression
    model = _linear(x, _lookahead())
    before = full_state(model)
    result = find_max_stable_lr(model, x, y, candidates=(1e3, 0.05), steps=10,
                                batch_size=BATCH, shuffle=False)
    assert result.lr == 0.05
    assert result.table["status"].tolist()[0] in ("non_finite", "exploded")
    losses = _replay(model, x, y, [0.05] * 10)
    row = result.table.iloc[1]
    assert row["first_loss"] == pytest.approx(losses[0], rel=2e-5)
    assert row["final_loss"] == pytest.approx(losses[-2:].mean(), rel=2e-5)
    assert_same_state(before, full_state(model))


def test_callback_sets_the_inner_rate(tiny_regression):
    x, y = tiny_regression
    model = _linear(x, _lookahead(0.01))
    # Light smoothing: 12 steps at the default 0.98 average the whole curve, which then may
    # never go below the targets' variance (an inconclusive test gives no rate to set).
    finder = LRFinder(x, y, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH,
                      smoothing=0.5)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[finder])
    assert finder.applied_lr == finder.result.suggestion is not None
    inner = model.optimizer.inner_optimizer
    assert float(np.asarray(inner.learning_rate)) == pytest.approx(finder.applied_lr, rel=1e-6)
