"""IterationLoss: the practical workflow's training loss every N iterations, smoothed."""

import csv

import keras
import numpy as np
import pytest

from keras_recipes.workflows.practical.iteration_loss import IterationLoss


def frozen_model():
    """A linear model trained at rate 0: each batch's loss is known in advance."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    return model


def debiased_ema(values, beta):
    """Seed 000's EMA v_t = β v_{t-1} + (1-β) y_t, v_0 = 0, divided by 1 - β^t."""
    v, out = 0.0, []
    for t, y in enumerate(values, start=1):
        v = beta * v + (1 - beta) * y
        out.append(v / (1 - beta**t))
    return out


def test_rows_are_window_means_and_their_debiased_ema(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(44, 3)).astype("float32")
    y = rng.normal(size=(44, 1)).astype("float32")
    model = frozen_model()
    w, b = (np.asarray(v) for v in model.get_weights())
    squared = ((x @ w + b - y) ** 2)[:, 0]  # per-example loss, weights never move
    # batches of 8, 8, 8, 8, 8, 4 per epoch; 2 epochs = 12 iterations
    batches = [squared[i:i + 8] for i in range(0, 44, 8)] * 2
    every = 4
    windows = [np.concatenate(batches[i:i + every]) for i in range(0, 12, every)]
    expected_loss = [float(np.mean(win)) for win in windows]  # weighted by examples
    log = IterationLoss(tmp_path / "it.csv", every=every, smoothing=0.6)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[log])
    assert [r["iteration"] for r in log.rows] == [4, 8, 12]
    assert [r["epoch"] for r in log.rows] == [1, 2, 2]  # window 2 spans the epoch boundary
    np.testing.assert_allclose([r["loss"] for r in log.rows], expected_loss, rtol=1e-5)
    np.testing.assert_allclose([r["smoothed"] for r in log.rows],
                               debiased_ema(expected_loss, 0.6), rtol=1e-5)
    with open(tmp_path / "it.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["iteration", "epoch", "loss", "smoothed"]
    np.testing.assert_allclose([float(r["smoothed"]) for r in rows],
                               [r["smoothed"] for r in log.rows])


def test_append_carries_on_the_average_and_the_iteration_count(tmp_path):
    x = np.ones((16, 3), "float32")
    y = np.zeros((16, 1), "float32")
    model = frozen_model()
    first = IterationLoss(tmp_path / "it.csv", every=2, smoothing=0.5)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[first])
    second = IterationLoss(tmp_path / "it.csv", every=2, smoothing=0.5, append=True)
    model.fit(x, y, batch_size=4, epochs=2, initial_epoch=1, verbose=0, callbacks=[second])
    assert [r["iteration"] for r in second.rows] == [6, 8]
    losses = [r["loss"] for r in first.rows + second.rows]
    np.testing.assert_allclose([r["smoothed"] for r in first.rows + second.rows],
                               debiased_ema(losses, 0.5), rtol=1e-6)
    with open(tmp_path / "it.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4


@pytest.mark.parametrize("kwargs, match", [
    ({"every": 0}, r"`every` must be >= 1"),
    ({"smoothing": 1.0}, "smoothing"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        IterationLoss(tmp_path / "it.csv", **kwargs)
