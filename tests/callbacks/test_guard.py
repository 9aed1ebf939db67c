"""Callbacks that fight each other, or cut a one-cycle schedule, are named at fit time."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import EarlyStopping, KeepBest
from keras_recipes.schedules import OneCycle


def _fit(callbacks, *, lr=1e-2, epochs=8):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks,
                  validation_data=(x, y))
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _about(messages, text):
    return [m for m in messages if text in m]


def test_two_callbacks_restoring_weights_are_named_once_with_the_winner():
    got = _fit([EarlyStopping(patience=20), KeepBest("val_loss")])
    fights = _about(got, "all restore weights")
    assert len(fights) == 1
    assert "EarlyStopping('val_loss'), KeepBest('val_loss')" in fights[0]
    assert "wins (KeepBest('val_loss'))" in fights[0]


def test_keras_early_stopping_counts_as_a_restoring_callback():
    got = _fit([KeepBest("val_loss"),
                keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)])
    assert len(_about(got, "all restore weights")) == 1
    assert "wins (EarlyStopping('val_loss'))" in _about(got, "all restore weights")[0]


def test_one_restoring_callback_and_a_constant_rate_warn_nothing():
    assert _fit([EarlyStopping(patience=2), keras.callbacks.History()]) == []


def test_early_stopping_that_can_cut_a_one_cycle_run_is_named():
    got = _fit([KeepBest("loss"), keras.callbacks.EarlyStopping(patience=3)],
               lr=OneCycle(0.05, total_steps=8))
    cut = _about(got, "can stop this 8-epoch run before its OneCycle schedule")
    assert len(cut) == 1 and "patience=3" in cut[0]


def test_patience_that_covers_the_run_does_not_warn():
    got = _fit([EarlyStopping("loss", patience=8, restore_best_weights=False)],
               lr=OneCycle(0.05, total_steps=8))
    assert _about(got, "can stop") == []


@pytest.mark.backend
def test_restoring_an_epoch_from_the_high_rate_phase_is_named_with_its_rate():
    # One step per epoch, 8 steps: epoch 1 ends at step 1 = half of the 2-step warm-up
    # (pct_start 0.25), where the cosine warm-up from peak/25 is at
    # 0.04 + 0.96 * (1 - cos(pi/2)) / 2 = 0.52 of the peak.
    keep = KeepBest("loss", mode="max")  # the highest loss: the first epoch
    got = _fit([keep], lr=OneCycle(0.05, total_steps=8))
    assert keep.best_epoch == 0
    restored = _about(got, "restored the weights of epoch 1")
    assert len(restored) == 1
    assert "52 % of OneCycle's peak 0.05" in restored[0]
    assert f"{0.52 * 0.05:.3g}" in restored[0]


@pytest.mark.backend
def test_restoring_the_annealed_end_does_not_warn():
    keep = KeepBest("loss")
    got = _fit([keep], lr=OneCycle(0.05, total_steps=8))
    assert keep.best_epoch == 7  # the loss falls to the end on this convex problem
    assert _about(got, "restored the weights") == []


def test_a_callback_driven_by_hand_is_checked_alone():
    stopper = EarlyStopping("loss")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    stopper.set_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        stopper.on_train_begin()


@pytest.mark.parametrize("epochs", [1])
def test_every_fit_is_checked_again(epochs):
    stopper, keep = EarlyStopping(patience=5), KeepBest()
    first = _fit([stopper, keep], epochs=epochs)
    second = _fit([stopper, keep], epochs=epochs)
    assert len(_about(first, "all restore weights")) == 1
    assert len(_about(second, "all restore weights")) == 1
