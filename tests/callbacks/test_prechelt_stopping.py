"""PrecheltStopping: GL, PQ and UP on hand-computed sequences, then in a real fit."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import PrecheltStopping, StopReason
from keras_recipes.callbacks.prechelt_stopping import generalization_loss, training_progress
from tests.callbacks._driver import FakeModel, drive, fit_digits, validation_loss


def rows(val, train=None):
    train = train if train is not None else [0.1] * len(val)
    return [{"val_loss": v, "loss": t} for v, t in zip(val, train, strict=True)]


def test_formulas_by_hand():
    # GL(t) = 100·(E_va/E_opt − 1): 0.88 against a best of 0.8 is 10 % worse.
    assert generalization_loss(0.88, 0.8) == pytest.approx(10.0)
    assert generalization_loss(0.8, 0.8) == 0.0
    # P_3 over (1.0, 0.6, 0.5): 1000·(2.1 / (3·0.5) − 1) = 400.
    assert training_progress([1.0, 0.6, 0.5]) == pytest.approx(400.0)
    # A flat strip made no progress.
    assert training_progress([0.3, 0.3, 0.3]) == pytest.approx(0.0)


def test_gl_stops_after_first_epoch_above_alpha():
    # E_opt: 1, .8, .8, .8 → GL: 0, 0, 100·(.83/.8 − 1) = 3.75, 100·(.88/.8 − 1) = 10.
    stopper = PrecheltStopping("GL", alpha=5)
    model = FakeModel()
    epochs = drive(stopper, rows([1.0, 0.8, 0.83, 0.88, 0.7]), model=model)
    assert epochs == 4
    np.testing.assert_allclose(stopper.gl_values, [0.0, 0.0, 3.75, 10.0], atol=1e-9)
    assert stopper.stop_reason is StopReason.GENERALIZATION_LOSS
    assert stopper.stopped_epoch == 3
    assert stopper.best_epoch == 1
    assert model.weights == 1  # the epoch with the lowest validation error


def test_pq_is_evaluated_at_strip_ends_only():
    train = [1.0, 0.6, 0.5, 0.45, 0.44, 0.43]
    val = [1.0, 0.7, 0.72, 0.75, 0.74, 0.77]
    # t=3: GL = 100·(.72/.7 − 1) = 2.857, P_3 = 1000·(2.1/1.5 − 1) = 400 → PQ = 0.00714.
    # t=4 has GL = 7.14 > alpha but is not a strip end.
    # t=6: GL = 100·(.77/.7 − 1) = 10, P_3 = 1000·(1.32/1.29 − 1) = 23.256 → PQ = 0.43.
    pq3 = (100 * (0.72 / 0.7 - 1)) / (1000 * ((1.0 + 0.6 + 0.5) / (3 * 0.5) - 1))
    pq6 = (100 * (0.77 / 0.7 - 1)) / (1000 * ((0.45 + 0.44 + 0.43) / (3 * 0.43) - 1))
    stopper = PrecheltStopping("PQ", alpha=0.4, strip_length=3)
    model = FakeModel()
    epochs = drive(stopper, rows(val, train), model=model)
    assert epochs == 6
    np.testing.assert_allclose(stopper.pq_values, [pq3, pq6], rtol=1e-9)
    assert pq6 == pytest.approx(0.43, abs=1e-3)
    assert stopper.stop_reason is StopReason.PROGRESS_QUOTIENT
    assert model.weights == 1

    # With alpha above 0.43 it never stops.
    relaxed = PrecheltStopping("PQ", alpha=0.5, strip_length=3)
    assert drive(relaxed, rows(val, train)) == 6
    assert relaxed.stop_reason is StopReason.NOT_STOPPED


def test_up_counts_successive_strip_increases():
    # k=2, strip ends t=2,4,…,12 read 0.9, 0.7, 0.75 (up), 0.65 (down: reset), 0.7 (up),
    # 0.71 (up): the second successive increase is at t=12. Mid-strip values are ignored.
    val = [1.0, 0.9, 0.8, 0.7, 0.9, 0.75, 0.6, 0.65, 0.62, 0.7, 0.8, 0.71]
    up2 = PrecheltStopping("UP", s=2, strip_length=2)
    model = FakeModel()
    assert drive(up2, rows(val), model=model) == 12
    assert up2.stop_reason is StopReason.SUCCESSIVE_INCREASES
    assert up2.stopped_epoch == 11
    assert model.weights == 6  # lowest validation error 0.6 at t=7

    up1 = PrecheltStopping("UP", s=1, strip_length=2)
    assert drive(up1, rows(val)) == 6


def test_non_finite_validation_error_stops():
    stopper = PrecheltStopping("GL")
    model = FakeModel()
    drive(stopper, rows([1.0, float("nan"), 0.5]), model=model)
    assert stopper.stop_reason is StopReason.NON_FINITE
    assert model.weights == 0


def test_defaults_and_two_runs_and_deepcopy(config_roundtrip):
    assert PrecheltStopping("GL").alpha == 5.0
    assert PrecheltStopping("PQ").alpha == 2.0
    assert PrecheltStopping("UP").s == 3
    stopper = PrecheltStopping("GL", alpha=5)
    drive(stopper, rows([1.0, 0.8, 0.83, 0.88]))
    assert stopper.stop_reason is StopReason.GENERALIZATION_LOSS
    # A second run with a stale E_opt of 0.8 would stop at once on 2.0.
    assert drive(stopper, rows([2.0, 1.9, 1.8])) == 3
    assert stopper.stop_reason is StopReason.NOT_STOPPED
    assert stopper.gl_values == [0.0, 0.0, 0.0]
    clone = copy.deepcopy(stopper)
    assert clone.get_config() == stopper.get_config()
    config_roundtrip(PrecheltStopping("UP", s=2, strip_length=3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"criterion": "XX"}, r"Argument `criterion` must be one of \{'GL', 'PQ', 'UP'\}"),
        ({"criterion": "GL", "alpha": 0}, "Argument `alpha` must be > 0"),
        ({"criterion": "PQ", "alpha": -1}, "Argument `alpha` must be > 0"),
        ({"criterion": "UP", "s": 0}, "Argument `s` must be > 0"),
        ({"criterion": "UP", "alpha": 2}, "Argument `alpha` must be None with criterion='UP'"),
        ({"criterion": "GL", "s": 2}, "Argument `s` must be None with criterion='GL'"),
        ({"strip_length": 0}, "Argument `strip_length` must be > 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrecheltStopping(**kwargs)


@pytest.mark.backend
def test_fit_on_digits(tiny_digits, tiny_mlp, seed):
    model = tiny_mlp(optimizer=keras.optimizers.Adam(0.05))
    stopper = PrecheltStopping("GL", alpha=1.0)
    history = fit_digits(model, tiny_digits, [stopper])
    val = history.history["val_loss"]
    np.testing.assert_allclose(stopper.val_errors, val, rtol=1e-6)
    expected_gl = [100 * (v / min(val[: i + 1]) - 1) for i, v in enumerate(val)]
    np.testing.assert_allclose(stopper.gl_values, expected_gl, rtol=1e-6, atol=1e-9)
    assert (stopper.stop_reason is StopReason.GENERALIZATION_LOSS) == (max(expected_gl) > 1.0)
    assert validation_loss(model, tiny_digits) == pytest.approx(min(val), rel=1e-4)
