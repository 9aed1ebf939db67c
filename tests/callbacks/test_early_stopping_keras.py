"""Keras's own EarlyStopping scenarios, run against keras_recipes' fork.

The scenarios are those of Keras's test file ``keras/src/callbacks/early_stopping_test.py``
(https://github.com/keras-team/keras/blob/136da6b4355b967d81fa134ed10461252aaec1de/keras/src/callbacks/early_stopping_test.py),
which tests the ``keras.callbacks.EarlyStopping`` that ``keras_recipes.callbacks.EarlyStopping``
follows (Keras 3.15.1). Each ``test_keras_*`` below is one test of that file, rewritten for
pytest and for this class; where the fork decides differently by design, the test says so.
Random data are seeded here (Keras's tests draw unseeded data), and the ``fit`` runs are
shorter (8 epochs where Keras runs 20 or 50: enough for every assertion).

The last tests compare the fork with the installed ``keras.callbacks.EarlyStopping`` decision
by decision on the same sequences of monitored values.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import EarlyStopping, StopReason
from tests.callbacks._driver import FakeModel, drive


def _relu_net(input_dim: int, hidden: int = 1, output_activation: str = "relu"):
    return keras.Sequential([keras.Input((input_dim,)),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(1, activation=output_activation)])


def _run(stopper, values, monitor="val_loss", model=None, stop_at=None):
    """Feed ``values`` to ``stopper`` as Keras's tests do (their DummyModel loop)."""
    return drive(stopper, [{monitor: value} for value in values], model=model, stop_at=stop_at)


# ----------------------------------------------------------- Keras's test file, one by one


def test_keras_early_stopping_mode_inference():
    """``test_early_stopping``: the direction from ``mode``, the loss name or the metric."""
    rng = np.random.default_rng(0)
    x_train, y_train = rng.random((10, 5)), rng.random((10, 1))
    x_test, y_test = rng.random((10, 5)), rng.random((10, 1))
    model = _relu_net(5)
    model.compile(loss="mae", optimizer="adam",
                  metrics=["mse", "acc", "accuracy", "hinge",
                           keras.metrics.F1Score(name="f1_score")])
    cases = [
        ("max", "val_mse", "max"),
        ("min", "val_loss", "min"),
        ("auto", "val_mse", "min"),
        ("auto", "loss", "min"),
        ("auto", "acc", "max"),
        ("auto", "val_accuracy", "max"),
        ("auto", "hinge", "min"),
        ("auto", "f1_score", "max"),
    ]
    for mode, monitor, expected in cases:
        stopper = EarlyStopping(patience=0, monitor=monitor, mode=mode)
        # One epoch (Keras: 2): the direction is settled at the first epoch's end.
        model.fit(x_train, y_train, batch_size=5, validation_data=(x_test, y_test),
                  callbacks=[stopper], epochs=1, verbose=0)
        assert stopper.direction == expected, (mode, monitor)
        assert stopper.monitor_op is (np.greater if expected == "max" else np.less)

    # Keras raises ValueError for monitor="unknown". By design the fork warns about the
    # missing metric instead (its docstring says so) and trains on.
    with pytest.warns(UserWarning, match="`unknown` which is not available"):
        model.fit(x_train, y_train, batch_size=5, validation_data=(x_test, y_test),
                  callbacks=[EarlyStopping(patience=0, monitor="unknown")], epochs=1,
                  verbose=0)


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_keras_early_stopping_patience(patience):
    """``test_early_stopping_patience``: the stop epoch for patience 0 to 3."""
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    stopper = EarlyStopping(monitor="loss", patience=patience)
    stopper.set_model(keras.Sequential())
    stopper.model.compile(loss="mse", optimizer="sgd")
    stopper.on_train_begin()
    for epoch, loss in enumerate(losses):
        stopper.on_epoch_end(epoch=epoch, logs={"loss": loss})
        if stopper.model.stop_training:
            break
    # Hand count: the best is 8.0 at epoch 2; epoch 2 + max(patience, 1) is the first
    # epoch where `wait >= patience` (patience 0 waits one epoch: epoch 0 never stops).
    assert stopper.stopped_epoch == max(patience, 1) + 2


def test_keras_early_stopping_reuse():
    """``test_early_stopping_reuse``: one instance, two ``fit`` calls."""
    patience = 3
    rng = np.random.default_rng(1)
    data = rng.random((100, 1))
    labels = np.where(data > 0.5, 1, 0)
    model = _relu_net(1)
    model.compile(optimizer="sgd", loss="mae", metrics=["mse"])
    stopper = EarlyStopping(monitor="mse", patience=patience)
    # Keras: 20 epochs of batches of 32; fewer, larger ones keep the test fast and still
    # reach `patience` epochs.
    history1 = model.fit(data, labels, batch_size=50, callbacks=[stopper], verbose=0,
                         epochs=8)
    assert len(history1.epoch) >= patience
    history2 = model.fit(data, labels, batch_size=50, callbacks=[stopper], verbose=0,
                         epochs=8)
    assert len(history2.epoch) >= patience


def test_keras_early_stopping_reuse_across_models():
    """``test_early_stopping_reuse_across_models`` (keras-team/keras#20256): a new model is
    not compared with the previous model's best value."""
    patience = 5
    rng = np.random.default_rng(2)
    data = rng.random((100, 1))
    labels = np.where(data > 0.5, 1, 0)
    stopper = EarlyStopping(monitor="loss", patience=patience)
    for _ in range(3):
        model = _relu_net(1, hidden=10, output_activation="sigmoid")
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        # Keras: 50 epochs of batches of 32. A best value kept from the previous model
        # would stop this one after `patience` epochs; 8 epochs of one batch show it.
        history = model.fit(data, labels, batch_size=100, callbacks=[stopper], verbose=0,
                            epochs=8)
        assert len(history.epoch) > patience


def test_keras_early_stopping_with_baseline():
    """``test_early_stopping_with_baseline``: a baseline never met still trains `patience`."""
    rng = np.random.default_rng(3)
    x_train, y_train = rng.random((10, 5)), rng.random((10, 1))
    model = _relu_net(5)
    model.compile(optimizer="sgd", loss="mae", metrics=["mse"])
    patience = 3
    stopper = EarlyStopping(monitor="mse", patience=patience, baseline=0.6)
    history = model.fit(x_train, y_train, callbacks=[stopper], verbose=0, epochs=8)
    assert len(history.epoch) >= patience


def test_keras_early_stopping_final_weights_when_restoring_model_weights():
    """``test_early_stopping_final_weights_when_restoring_model_weights``: three cases."""
    # The best epoch is 2 (loss 0.1); patience 2 stops at epoch 4 and restores epoch 2.
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = FakeModel()
    _run(stopper, [0.2, 0.15, 0.1, 0.11, 0.12], model=model)
    assert model.get_weights() == 2

    # No epoch beats the baseline: train `patience` epochs and restore the best of them.
    stopper = EarlyStopping(monitor="val_loss", patience=5, baseline=0.5,
                            restore_best_weights=True)
    model = FakeModel()
    epochs = _run(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], model=model)
    assert epochs == 5
    assert model.get_weights() == 2
    assert stopper.stop_reason is StopReason.BASELINE_NOT_MET  # the fork's addition

    # Another callback requests the stop at epoch 3: the best weights are still restored.
    stopper = EarlyStopping(monitor="val_loss", patience=5, baseline=0.5,
                            restore_best_weights=True)
    model = FakeModel()
    epochs = _run(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], model=model, stop_at=3)
    assert epochs == 4
    assert model.get_weights() == 2
    assert stopper.stop_reason is StopReason.OTHER_CALLBACK  # the fork's addition


def test_keras_early_stopping_with_start_from_epoch():
    """``test_early_stopping_with_start_from_epoch``: warm-up epochs are not monitored."""
    rng = np.random.default_rng(4)
    x_train, y_train = rng.random((10, 5)), rng.random((10, 1))
    model = _relu_net(5)
    model.compile(optimizer="sgd", loss="mae", metrics=["mse"])
    for patience, start_from_epoch in [(3, 2), (0, 2)]:
        stopper = EarlyStopping(monitor="mse", patience=patience,
                                start_from_epoch=start_from_epoch)
        history = model.fit(x_train, y_train, callbacks=[stopper], verbose=0, epochs=8)
        assert len(history.epoch) >= patience + start_from_epoch


# ------------------------------------------------ decision by decision against Keras's class

SEQUENCES = {
    "improves_then_plateaus": [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5],
    "keras_restore_case": [0.2, 0.15, 0.1, 0.11, 0.12],
    "baseline_never_met": [0.9, 0.8, 0.7, 0.71, 0.72, 0.73],
    "noisy": [1.0, 1.2, 0.9, 0.95, 0.91, 0.8, 0.85, 0.86, 0.87, 0.79, 0.9, 0.95],
    "ties": [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5],
    "always_improving": [5.0, 4.0, 3.0, 2.0, 1.0],
}
SETTINGS = [
    {"patience": 0},
    {"patience": 2},
    {"patience": 3, "restore_best_weights": True},
    {"patience": 2, "baseline": 0.75},
    {"patience": 1, "min_delta": 0.05},
    {"patience": 2, "start_from_epoch": 3},
    {"patience": 0, "start_from_epoch": 2, "restore_best_weights": True},
    {"patience": 2, "mode": "max"},
    {"patience": 1, "mode": "max", "baseline": 1.0, "restore_best_weights": True},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}"
                                                                        for k, v in s.items()))
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_same_decisions_as_keras_early_stopping(name, settings):
    values = SEQUENCES[name]
    kwargs = {"monitor": "val_loss", "mode": "min", "restore_best_weights": False, **settings}
    theirs, ours = keras.callbacks.EarlyStopping(**kwargs), EarlyStopping(**kwargs)
    their_model, our_model = FakeModel(), FakeModel()
    their_epochs = _run(theirs, values, model=their_model)
    our_epochs = _run(ours, values, model=our_model)
    assert our_epochs == their_epochs
    assert ours.stopped_epoch == theirs.stopped_epoch
    assert ours.wait == theirs.wait
    assert ours.best == theirs.best
    assert our_model.weights == their_model.weights  # what each restored, if anything
    if ours.best_epoch is not None:  # the fork says None where no epoch was measured
        assert ours.best_epoch == theirs.best_epoch
    stopped = their_model.stop_training
    assert (ours.stop_reason is not StopReason.NOT_STOPPED) == stopped
