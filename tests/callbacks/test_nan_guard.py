"""NaNGuard: per-batch check, restore of the last good weights and optimizer state."""

from __future__ import annotations

import copy
import warnings

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import NaNGuard, StopReason


class FakeModel:
    def __init__(self):
        self.stop_training = False
        self.weights = "initial"
        self.optimizer = None

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def test_first_batch_nan_restores_weights_from_before_training():
    guard = NaNGuard()
    model = FakeModel()
    guard.set_model(model)
    guard.on_train_begin()
    guard.on_epoch_begin(0)
    model.weights = "after batch 0"
    guard.on_train_batch_end(0, {"loss": float("nan")})
    assert model.stop_training
    assert model.weights == "initial"
    assert guard.stop_reason is StopReason.NON_FINITE
    assert (guard.stopped_epoch, guard.stopped_batch) == (0, 0)
    assert "weights restored from before training" in guard.stop_message


def test_restores_the_end_of_the_last_finite_epoch_and_checks_validation():
    guard = NaNGuard()
    model = FakeModel()
    guard.set_model(model)
    guard.on_train_begin()
    for epoch in range(2):
        guard.on_epoch_begin(epoch)
        model.weights = f"epoch {epoch}"
        guard.on_train_batch_end(0, {"loss": 1.0})
        guard.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0})
    guard.on_epoch_begin(2)
    model.weights = "epoch 2"
    guard.on_train_batch_end(0, {"loss": 1.0})
    guard.on_epoch_end(2, {"loss": 1.0, "val_loss": float("inf")})  # validation diverged
    assert model.weights == "epoch 1"
    assert guard.good_epoch == 1
    assert guard.stopped_batch is None
    assert "val_loss=inf" in guard.stop_message


def test_two_runs_deepcopy_config(config_roundtrip):
    guard = NaNGuard()
    model = FakeModel()
    guard.set_model(model)
    guard.on_train_begin()
    guard.on_train_batch_end(0, {"loss": float("nan")})
    assert guard.stop_reason is StopReason.NON_FINITE
    model.stop_training = False
    guard.on_train_begin()
    assert guard.stop_reason is StopReason.NOT_STOPPED
    guard.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    assert copy.deepcopy(NaNGuard(restore_optimizer=False)).restore_optimizer is False
    config_roundtrip(NaNGuard(monitor="loss", restore_optimizer=False))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Argument `monitor` must be a non-empty metric name"):
        NaNGuard(monitor="")
    with pytest.raises(ValueError, match="Argument `verbose` must be >= 0"):
        NaNGuard(verbose=-1)
    with pytest.raises(ValueError, match="Argument `restore_optimizer` must be a bool"):
        NaNGuard(restore_optimizer="no")


def test_missing_monitor_warns_once_per_run_and_still_checks_validation():
    guard = NaNGuard("lossx")
    model = FakeModel()
    guard.set_model(model)
    for _ in range(2):  # the warning comes back in a new run
        guard.on_train_begin()
        with pytest.warns(UserWarning, match=r"NaNGuard is conditioned on metric `lossx` which "
                                             r"is not available\. Available metrics are: loss"):
            guard.on_train_batch_end(0, {"loss": 0.5})
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per run, not once per batch or epoch
            guard.on_train_batch_end(1, {"loss": 0.4})
            guard.on_epoch_end(0, {"loss": 0.4, "val_loss": 0.6})
    guard.on_epoch_end(1, {"loss": 0.4, "val_loss": float("nan")})
    assert guard.stop_reason is StopReason.NON_FINITE and model.stop_training


def test_val_monitor_is_looked_for_in_the_epoch_logs_only():
    guard = NaNGuard("val_loss")
    guard.set_model(FakeModel())
    guard.on_train_begin()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guard.on_train_batch_end(0, {"loss": 0.5})
        guard.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.6})
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        guard.on_epoch_end(1, {"loss": 0.5})


class _Explode(keras.callbacks.Callback):
    """Records the weights and optimizer state at each epoch end; blows the LR up later."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch
        self.weights = {}
        self.iterations = {}

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            self.model.optimizer.learning_rate.assign(1e30)

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [np.array(w) for w in self.model.get_weights()]
        self.iterations[epoch] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))


@pytest.mark.backend
def test_fit_divergence_mid_epoch_leaves_the_last_good_weights(tiny_regression):
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    guard = NaNGuard(verbose=1)
    recorder = _Explode(at_epoch=2)
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[guard, recorder])
    assert guard.stop_reason is StopReason.NON_FINITE
    assert guard.stopped_epoch == 2
    assert guard.stopped_batch is not None and guard.stopped_batch < 8
    assert len(history.epoch) == 3
    for kept, now in zip(recorder.weights[1], model.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    assert iterations == recorder.iterations[1] == 2 * 8


@pytest.mark.backend
def test_terminate_on_nan_alone_leaves_nan_weights(tiny_regression):
    """The failure that NaNGuard fixes, shown with Keras's own callback."""
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, epochs=4, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.TerminateOnNaN(), _Explode(at_epoch=1)])
    assert not all(np.isfinite(w).all() for w in model.get_weights())
