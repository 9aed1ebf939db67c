"""KeepBest: restore at the end, at Ctrl-C (SIGINT) and on an exception."""

from __future__ import annotations

import copy
import signal

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import KeepBest, StopReason
from tests.callbacks._driver import FakeModel, drive, fit_digits, validation_loss


def rows(values, name="val_loss"):
    return [{name: v} for v in values]


def test_never_stops_and_restores_best_at_end():
    keep = KeepBest(catch_interrupt=False)
    model = FakeModel()
    assert drive(keep, rows([1.0, 0.4, 0.6, 0.5, 0.9]), model=model) == 5
    assert keep.stop_reason is StopReason.NOT_STOPPED
    assert keep.best_epoch == 1
    assert keep.best_value == pytest.approx(0.4)
    assert model.weights == 1
    assert keep.restored


def test_max_mode_min_delta_and_non_finite_values():
    keep = KeepBest("val_accuracy", min_delta=0.05, catch_interrupt=False)
    model = FakeModel()
    drive(keep, rows([0.5, 0.53, float("nan"), 0.56, 0.6], "val_accuracy"), model=model)
    # 0.53 is not > 0.5 + 0.05, NaN never improves, 0.56 > 0.55 does, 0.6 < 0.61 does not.
    assert keep.best_epoch == 3
    assert model.weights == 3


def test_restoring_context_restores_on_exception():
    keep = KeepBest(catch_interrupt=False)
    model = FakeModel()
    keep.set_model(model)
    keep.on_train_begin()
    with pytest.raises(RuntimeError, match="boom"), keep.restoring():
        for epoch, value in enumerate([1.0, 0.5, 0.7]):
            model.weights = epoch
            keep.on_epoch_end(epoch, {"val_loss": value})
        model.weights = "corrupted"
        raise RuntimeError("boom")
    assert model.weights == 1


def test_two_runs_deepcopy_config(config_roundtrip):
    keep = KeepBest(catch_interrupt=False)
    drive(keep, rows([0.1, 0.2]))
    model = FakeModel()
    drive(keep, rows([5.0, 4.0, 3.0]), model=model)  # a stale best of 0.1 would keep -1
    assert keep.best_epoch == 2
    assert model.weights == 2
    assert copy.deepcopy(keep).get_config() == keep.get_config()
    config_roundtrip(KeepBest("val_accuracy", mode="max", min_delta=0.01))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Argument `mode` must be one of"):
        KeepBest(mode="biggest")
    with pytest.raises(ValueError, match="Argument `min_delta_mode` must be one of"):
        KeepBest(min_delta_mode="ratio")


class _InterruptAt(keras.callbacks.Callback):
    """Sends SIGINT to the process, as Ctrl-C does, at a given (epoch, batch)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            signal.raise_signal(signal.SIGINT)


@pytest.mark.backend
def test_ctrl_c_in_fit_stops_cleanly_with_best_weights(tiny_digits, tiny_mlp, seed):
    model = tiny_mlp(optimizer=keras.optimizers.Adam(0.05))
    keep = KeepBest("val_loss")
    before = signal.getsignal(signal.SIGINT)
    history = fit_digits(model, tiny_digits, [keep, _InterruptAt(2, 0)], epochs=10,
                         batch_size=50)
    assert signal.getsignal(signal.SIGINT) == before  # handler removed after fit
    assert keep.stop_reason is StopReason.INTERRUPTED
    assert keep.stopped_epoch == 2
    # The interrupted epoch ends early; epochs 0-2 were logged, nothing after.
    val = history.history["val_loss"]
    assert len(val) == 3
    assert keep.best_value == pytest.approx(min(val), rel=1e-6)
    assert validation_loss(model, tiny_digits) == pytest.approx(min(val), rel=1e-4)


@pytest.mark.backend
def test_exception_in_fit_restores_best_weights(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    model = tiny_mlp(optimizer=keras.optimizers.Adam(0.05))
    keep = KeepBest("loss")
    snapshots = []

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(logs["loss"])
            if epoch == 2:
                # Corrupt the weights, as a diverging step would, then fail.
                self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])
                raise RuntimeError("crash after epoch 3")

    with pytest.raises(RuntimeError, match="crash"), keep.restoring():
        model.fit(x, y, epochs=5, batch_size=100, verbose=0, callbacks=[keep, Crash()])
    assert keep.restored
    assert keep.best_epoch == int(np.argmin(snapshots))
    restored = [np.asarray(w) for w in model.get_weights()]
    assert all(np.isfinite(w).all() for w in restored)
    for kept, now in zip(keep.best_weights, restored, strict=True):
        np.testing.assert_array_equal(kept, now)
