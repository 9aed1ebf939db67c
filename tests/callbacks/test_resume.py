"""Training resumed with BackupAndRestore follows the uninterrupted per-step trajectory."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import HyperparameterScheduler
from keras_recipes.schedules import CyclicLR, OneCycle, WarmRestarts

pytestmark = pytest.mark.backend

N, BATCH, EPOCHS = 32, 8, 6  # 4 steps per epoch, 24 steps in all
TOTAL = N // BATCH * EPOCHS


class _Interrupt(Exception):
    pass


class _StopAfter(keras.callbacks.Callback):
    """Raise at the end of an epoch (after BackupAndRestore has saved it)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupt()


class _Trajectory(keras.callbacks.Callback):
    """Per step: (iteration, learning rate, each scheduled hyperparameter)."""

    def __init__(self, schedules):
        super().__init__()
        self.schedules, self.rows = schedules, []

    def on_train_batch_begin(self, batch, logs=None):
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        opt = self.model.optimizer
        it = opt.iterations
        row = [int(keras.ops.convert_to_numpy(it)),
               float(keras.ops.convert_to_numpy(opt.learning_rate))]
        row += [float(keras.ops.convert_to_numpy(s(it))) for s in self.schedules.values()]
        self.rows.append(tuple(row))


def _case(name):
    if name == "CyclicLR":
        return CyclicLR(0.01, 0.1, step_size=5), {}
    if name == "OneCycle":  # with its momentum cycle through HyperparameterScheduler
        lr = OneCycle(0.1, TOTAL)
        return lr, {"momentum": lr.momentum_schedule()}
    # WarmRestarts as the learning rate, and HyperparameterScheduler on two hyperparameters.
    return WarmRestarts(7, t_mult=2.0, m_mul=0.5, initial_learning_rate=0.1), {
        "momentum": CyclicLR(0.8, 0.95, 5), "weight_decay": WarmRestarts(
            5, initial_learning_rate=1e-2, alpha=0.1)}


def _run(lr, schedules, callbacks, epochs=EPOCHS):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4)).astype("float32")
    y = np.sin(x.sum(axis=1, keepdims=True))
    extra = [HyperparameterScheduler(schedules)] if schedules else []
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
              callbacks=extra + callbacks)
    return model


@pytest.mark.parametrize("name", ["CyclicLR",
                                  pytest.param("OneCycle", marks=pytest.mark.slow),
                                  "WarmRestarts+HyperparameterScheduler"])
def test_resume_matches_uninterrupted(name, tmp_path):
    lr, schedules = _case(name)
    full = _Trajectory(schedules)
    reference = _run(lr, schedules, [full])

    first = _Trajectory(schedules)
    backup = str(tmp_path / "backup")
    with pytest.raises(_Interrupt):
        _run(lr, schedules, [keras.callbacks.BackupAndRestore(backup), first, _StopAfter(2)])
    second = _Trajectory(schedules)
    resumed = _run(lr, schedules, [keras.callbacks.BackupAndRestore(backup), second])

    assert len(first.rows) == 12 and len(second.rows) == 12
    assert first.rows + second.rows == full.rows  # exact equality, step by step
    for a, b in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
