"""cross_validate: one fresh model per fold, per-fold metrics, mean and std."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.analysis import cross_validate
from keras_recipes.data import kfold


def _builder(calls):
    def build():
        calls.append(1)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
        model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model
    return build


@pytest.mark.integration
def test_folds_mean_and_std(tiny_digits, seed):
    x, y = tiny_digits
    x0 = x.copy()
    calls = []
    cv = cross_validate(_builder(calls), x, y, k=3, fit_kwargs={"epochs": 2, "batch_size": 32})
    assert len(calls) == 3
    assert cv.folds["fold"].tolist() == [0, 1, 2]
    from sklearn.model_selection import StratifiedKFold

    expected_val = [len(v) for _, v in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y)]
    assert cv.folds["n_val"].tolist() == expected_val
    assert (cv.folds["n_train"] + cv.folds["n_val"]).tolist() == [len(x)] * 3
    assert cv.folds["epochs"].tolist() == [2, 2, 2]
    acc = cv.folds["accuracy"].to_numpy()
    assert cv.mean["accuracy"] == pytest.approx(acc.mean())
    assert cv.std["accuracy"] == pytest.approx(np.std(acc, ddof=1))
    assert list(cv.summary().columns) == ["mean", "std"]
    assert len(cv.histories) == 3 and len(cv.histories[0]["loss"]) == 2
    np.testing.assert_array_equal(x, x0)


def test_rejects_bad_input(tiny_digits):
    x, y = tiny_digits
    calls = []
    with pytest.raises(ValueError, match="Argument `k`"):
        cross_validate(_builder(calls), x, y, k=1)
    with pytest.raises(ValueError, match="validation_data"):
        cross_validate(_builder(calls), x, y, fit_kwargs={"validation_data": (x, y)})
    with pytest.raises(ValueError, match="same length"):
        cross_validate(_builder(calls), x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        cross_validate(_builder(calls), x[:0], y[:0])
    assert calls == []
    shared = _builder(calls)()
    with pytest.raises(ValueError, match="same model for two folds"):
        cross_validate(lambda: shared, x, y, k=2, fit_kwargs={"epochs": 1})

    def uncompiled():
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])

    with pytest.raises(ValueError, match="compiled"):
        cross_validate(uncompiled, x, y, k=2)


@pytest.mark.slow  # heavy: `make test-all`
def test_rotating_test_parts_cover_every_example_once(tiny_digits):
    # Seed 001's variant: model i tests on part i and validates on part i+1.
    x, y = tiny_digits
    parts = [f.val_index for f in kfold(x, y, k=4)]
    calls = []
    cv = cross_validate(_builder(calls), x, y, k=4, rotate_test=True,
                        fit_kwargs={"epochs": 1, "batch_size": 64})
    assert len(calls) == 4
    assert cv.folds["n_test"].tolist() == [len(p) for p in parts]
    assert cv.folds["n_val"].tolist() == [len(parts[(i + 1) % 4]) for i in range(4)]
    sizes = cv.folds["n_train"] + cv.folds["n_val"] + cv.folds["n_test"]
    assert sizes.tolist() == [len(x)] * 4
    assert cv.folds["n_test"].sum() == len(x)  # every example is tested once
    assert "val_accuracy" in cv.folds.columns
    assert sorted(cv.mean.index) == ["accuracy", "loss"]  # test metrics only
    assert cv.mean["accuracy"] == pytest.approx(cv.folds["accuracy"].mean())
    # fit saw the validation part: its history has val_loss.
    assert "val_loss" in cv.histories[0]


def test_rotating_needs_three_parts(tiny_digits):
    x, y = tiny_digits
    with pytest.raises(ValueError, match="Argument `k`"):
        cross_validate(_builder([]), x, y, k=2, rotate_test=True)
