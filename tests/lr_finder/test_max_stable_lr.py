"""find_max_stable_lr: the seed's "largest ε0 that does not diverge", checked against the
stability limit of gradient descent on least squares, 2 / λ_max(H)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.lr_finder import MaxStableLRResult, find_max_stable_lr
from tests.lr_finder.conftest import assert_same_state, full_state

pytestmark = pytest.mark.backend


def _linear(x):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def test_largest_stable_candidate_matches_gd_stability_limit(tiny_regression):
    x, y = tiny_regression
    n = len(x)
    # Full-batch GD on L(w) = mean((Xw - y)²) has Hessian H = 2/n XᵀX; it converges iff
    # lr < 2 / λ_max(H).
    limit = 2.0 / np.linalg.eigvalsh(2.0 / n * x.T.astype("float64") @ x).max()
    candidates = (10, 1, 0.1, 0.01, 0.001)
    assert all(abs(c / limit - 1) > 0.15 for c in candidates)  # none borderline
    model = _linear(x)
    w0 = model.layers[0].kernel.numpy().astype("float64")
    before = full_state(model)
    result = find_max_stable_lr(model, x, y, candidates, steps=30, batch_size=n,
                                shuffle=False)
    assert isinstance(result, MaxStableLRResult)
    table = result.table
    assert list(table["lr"]) == sorted(candidates, reverse=True)
    for lr, status in zip(table["lr"], table["status"], strict=True):
        assert (status == "ok") == (lr < limit), (lr, status, limit)
    assert result.lr == max(c for c in candidates if c < limit)
    # Every trial started from the same state: the same first loss, the NumPy one.
    first = float(np.mean((x @ w0 - y) ** 2))
    np.testing.assert_allclose(table["first_loss"], first, rtol=1e-5)
    assert_same_state(before, full_state(model))
    assert "ok" in repr(result)


def test_generator_batches_are_replayed_for_each_candidate(tiny_regression):
    x, y = tiny_regression

    def gen():
        for i in range(4):
            yield x[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)]

    result = find_max_stable_lr(_linear(x), gen(), candidates=(0.05, 0.01), steps=8)
    assert list(result.table["steps_run"]) == [8, 8]
    assert result.table["first_loss"].nunique() == 1
    assert result.lr == 0.05


def test_no_stable_candidate_warns_and_returns_none(tiny_regression):
    x, y = tiny_regression
    with pytest.warns(RuntimeWarning, match="No candidate learning rate was stable"):
        result = find_max_stable_lr(_linear(x), x, y, candidates=(100.0, 30.0), steps=10)
    assert result.lr is None
    assert set(result.table["status"]) <= {"non_finite", "exploded", "no_decrease"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidates": ()}, "Argument `candidates` must be a non-empty"),
        ({"candidates": (0.1, -1.0)}, "Argument `candidates` must be > 0"),
        ({"steps": 1}, "Argument `steps` must be >= 2"),
        ({"divergence_threshold": 0.5}, "divergence_threshold"),
    ],
)
def test_bad_input(tiny_regression, kwargs, match):
    x, y = tiny_regression
    with pytest.raises(ValueError, match=match):
        find_max_stable_lr(_linear(x), x, y, **kwargs)


def test_uncompiled_and_empty(tiny_regression):
    x, y = tiny_regression
    with pytest.raises(ValueError, match="must be compiled"):
        find_max_stable_lr(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), x, y)
    with pytest.raises(ValueError, match="at least one"):
        find_max_stable_lr(_linear(x), x[:0], y[:0])


def test_candidates_that_float32_cannot_hold_or_text_are_refused(tiny_regression):
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"^Argument `candidates` must be a learning rate "
                                         r"float32 can hold.*Received: candidates=1e-320$"):
        find_max_stable_lr(model, x, y, candidates=(0.1, 1e-320))
    with pytest.raises(ValueError, match=r"^Argument `candidates` must be a finite number\. "
                                         r"Received: candidates='0\.1'$"):
        find_max_stable_lr(model, x, y, candidates=("0.1",))
    x_nan = np.array(x, copy=True)
    x_nan[:] = np.nan
    with pytest.raises(ValueError, match=r"^Argument `x` must hold finite values"):
        find_max_stable_lr(model, x_nan, y)
    assert model.train_function is None
