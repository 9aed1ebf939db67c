"""LearningRateMonitor: lr and scheduled hyperparameters in History and CSVLogger."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import HyperparameterScheduler, LearningRateMonitor
from keras_recipes.schedules import OneCycle

pytestmark = pytest.mark.backend


def test_history_and_csv(tmp_path):
    steps_per_epoch, epochs = 4, 3
    lr = OneCycle(0.1, total_steps=steps_per_epoch * epochs)
    momentum = lr.momentum_schedule()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr, momentum=0.95), "mse")
    x, y = np.ones((16, 3), "float32"), np.ones((16, 1), "float32")
    path = tmp_path / "log.csv"
    history = model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, callbacks=[
        HyperparameterScheduler({"momentum": momentum, "weight_decay": 1e-4}),
        LearningRateMonitor(), keras.callbacks.CSVLogger(str(path))])
    ends = [steps_per_epoch * (e + 1) for e in range(epochs)]  # iterations at epoch end

    def fastai_cos(a, b, p):
        return a + (1 + np.cos(np.pi * (1 - p))) * (b - a) / 2

    def ref(t, a, b, c):
        p = t / 12
        return fastai_cos(a, b, p / 0.25) if p < 0.25 else fastai_cos(b, c, (p - 0.25) / 0.75)

    np.testing.assert_allclose(history.history["lr"], [ref(t, 0.004, 0.1, 1e-6) for t in ends],
                               rtol=1e-4)
    np.testing.assert_allclose(history.history["momentum"],
                               [ref(t, 0.95, 0.85, 0.95) for t in ends], rtol=1e-5)
    assert history.history["weight_decay"] == pytest.approx([1e-4] * epochs)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert {"lr", "momentum", "weight_decay"} <= set(rows[0])
    assert float(rows[-1]["momentum"]) == pytest.approx(history.history["momentum"][-1])


def test_float_lr_only(config_roundtrip):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.003), "mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateMonitor("lr0")])
    assert history.history["lr0"] == pytest.approx([0.003, 0.003])
    assert "beta_1" not in history.history  # only scheduled hyperparameters are logged
    config_roundtrip(LearningRateMonitor("lr0"))
    with pytest.raises(ValueError, match="Argument `key` must be a non-empty string"):
        LearningRateMonitor("")


@pytest.mark.parametrize("key", ["loss", "val_lr"])
def test_key_that_keras_logs_is_refused(key):
    with pytest.raises(ValueError, match=f"Argument `key` must be a name that Keras does not "
                                         f"log itself .* Received: key='{key}'"):
        LearningRateMonitor(key=key)


def test_key_of_a_model_metric_is_refused_not_overwritten():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    match = r"Argument `key` must be a name not already logged .*Received: key='mae'"
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateMonitor(key="mae")])
    # Once the model is built, the check happens before the first step.
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateMonitor(key="mae")])
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
