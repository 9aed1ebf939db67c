"""GeneralizationGapStopping: hand-computed gaps, patience, direction, then a real fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from keras_recipes.callbacks import GeneralizationGapStopping, StopReason
from tests.callbacks._driver import FakeModel, drive, fit_digits


def rows(train, val, name="loss"):
    return [{name: t, f"val_{name}": v} for t, v in zip(train, val, strict=True)]


TRAIN = [1.0, 0.8, 0.6, 0.5]
VAL = [1.1, 1.0, 0.9, 0.95]  # gaps .1, .2, .3, .45; relative gaps .1, .25, .5, .9


@pytest.mark.parametrize(("patience", "epochs"), [(0, 3), (1, 3), (2, 4), (3, 4)])
def test_absolute_gap_and_patience(patience, epochs):
    stopper = GeneralizationGapStopping(max_gap=0.25, patience=patience)
    assert drive(stopper, rows(TRAIN, VAL)) == epochs
    np.testing.assert_allclose(stopper.gaps, [0.1, 0.2, 0.3, 0.45][:epochs], atol=1e-12)
    expected = StopReason.GENERALIZATION_GAP if patience <= 2 else StopReason.NOT_STOPPED
    assert stopper.stop_reason is expected


def test_relative_gap():
    stopper = GeneralizationGapStopping(max_gap=0.3, relative=True)
    model = FakeModel()
    assert drive(stopper, rows(TRAIN, VAL), model=model) == 3
    np.testing.assert_allclose(stopper.gaps, [0.1, 0.25, 0.5], atol=1e-12)
    assert stopper.stop_reason is StopReason.GENERALIZATION_GAP
    assert model.weights == 2  # best validation loss 0.9 at epoch 2
    assert stopper.best_value == pytest.approx(0.9)


def test_violations_must_be_consecutive():
    train = [1.0, 1.0, 1.0, 1.0, 1.0]
    val = [1.5, 1.0, 1.5, 1.0, 1.5]
    stopper = GeneralizationGapStopping(max_gap=0.2, patience=2)
    assert drive(stopper, rows(train, val)) == 5
    assert stopper.stop_reason is StopReason.NOT_STOPPED


def test_accuracy_gap_is_train_minus_val():
    stopper = GeneralizationGapStopping(max_gap=0.1, metric="accuracy")
    assert drive(stopper, rows([0.8, 0.9, 0.99], [0.78, 0.85, 0.81], "accuracy")) == 3
    np.testing.assert_allclose(stopper.gaps, [0.02, 0.05, 0.18], atol=1e-12)
    assert stopper.direction == "max"
    assert stopper.best_epoch == 1


def test_missing_validation_metric_warns():
    stopper = GeneralizationGapStopping(max_gap=0.1)
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match="`val_loss` which is not available.*accuracy, loss"):
        stopper.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    assert stopper.gaps == []


def test_non_finite_gap_stops():
    stopper = GeneralizationGapStopping(max_gap=10.0, patience=5)
    assert drive(stopper, rows([1.0, 1.0], [1.0, float("inf")])) == 2
    assert stopper.stop_reason is StopReason.NON_FINITE


def test_two_runs_deepcopy_config(config_roundtrip):
    stopper = GeneralizationGapStopping(max_gap=0.25, patience=2)
    drive(stopper, rows(TRAIN, VAL))
    assert stopper.stop_reason is StopReason.GENERALIZATION_GAP
    assert drive(stopper, rows([1.0, 1.0], [1.3, 1.0])) == 2  # a stale counter would stop
    assert stopper.stop_reason is StopReason.NOT_STOPPED
    assert copy.deepcopy(stopper).get_config() == stopper.get_config()
    config_roundtrip(GeneralizationGapStopping(0.2, metric="accuracy", relative=True))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_gap": -0.1}, "Argument `max_gap` must be >= 0"),
        ({"max_gap": 0.1, "patience": -1}, "Argument `patience` must be >= 0"),
        ({"max_gap": 0.1, "metric": "val_loss"}, "Argument `metric` must be a training metric"),
        ({"max_gap": 0.1, "mode": "best"}, "Argument `mode` must be one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GeneralizationGapStopping(**kwargs)


@pytest.mark.backend
def test_fit_on_digits(tiny_digits, tiny_mlp, seed):
    model = tiny_mlp()
    stopper = GeneralizationGapStopping(max_gap=0.0, metric="accuracy", patience=2)
    history = fit_digits(model, tiny_digits, [stopper])
    h = history.history
    expected = np.asarray(h["accuracy"]) - np.asarray(h["val_accuracy"])
    np.testing.assert_allclose(stopper.gaps, expected, atol=1e-6)
    over = expected > 0
    runs = [all(over[i - 1: i + 1]) for i in range(1, len(over))]
    assert (stopper.stop_reason is StopReason.GENERALIZATION_GAP) == any(runs)
