"""EarlyStopping: the additions to Keras's (thresholds, NaN, reasons...).

Keras's own scenarios, and a comparison with ``keras.callbacks.EarlyStopping`` decision by
decision, are in ``test_early_stopping_keras.py``.
"""

from __future__ import annotations

import copy
import math

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import EarlyStopping, StopReason
from tests.callbacks._driver import FakeModel, fit_digits, validation_loss
from tests.callbacks._driver import drive as drive_rows


def drive(callback, values, monitor="val_loss", model=None, stop_at=None):
    """Run ``values`` through the callback like ``fit`` would; returns the epochs run."""
    rows = [{monitor: value, "other": 0.0} for value in values]
    return drive_rows(callback, rows, model=model, stop_at=stop_at)


# ------------------------------------------- direction and state (Keras's scenarios: *_keras.py)
def test_undecidable_metric_that_is_logged_raises_in_auto_mode():
    stopper = EarlyStopping(monitor="wobble", patience=0)
    with pytest.raises(ValueError, match="cannot determine whether that metric"):
        drive(stopper, [1.0, 2.0], monitor="wobble")


def test_state_reset_across_fit_calls():
    stopper = EarlyStopping(monitor="loss", patience=3)
    stopper.set_model(keras.Sequential())
    stopper.on_train_begin()
    stopper.best = 0.1
    stopper.wait = 3
    stopper.stopped_epoch = 5
    stopper.best_epoch = 5
    stopper.best_weights = object()
    stopper.stop_reason = StopReason.DIVERGED
    stopper.on_train_begin()
    assert stopper.best is None
    assert stopper.wait == 0
    assert stopper.stopped_epoch == 0
    assert stopper.best_epoch is None  # Keras: 0; None says that no epoch was measured
    assert stopper.best_weights is None
    assert stopper.best_value is None
    assert stopper.stop_reason is StopReason.NOT_STOPPED


# --------------------------------------------------------------------------- additions
def test_restore_best_weights_defaults_to_true():
    stopper = EarlyStopping(patience=1)
    assert stopper.restore_best_weights is True
    model = FakeModel()
    drive(stopper, [0.5, 0.4, 0.6, 0.7], model=model)
    assert model.weights == 1
    assert stopper.best_epoch == 1
    assert stopper.best_value == pytest.approx(0.4)


def test_patience_zero_stops_at_first_non_improvement_after_epoch_zero():
    stopper = EarlyStopping(patience=0)
    epochs = drive(stopper, [1.0, 0.9, 0.95, 0.5])
    assert epochs == 3
    assert stopper.stopped_epoch == 2


def test_best_epoch_is_the_last_one():
    stopper = EarlyStopping(patience=2)
    model = FakeModel()
    epochs = drive(stopper, [1.0, 0.9, 0.8, 0.7], model=model)
    assert epochs == 4
    assert stopper.stop_reason is StopReason.NOT_STOPPED
    assert stopper.best_epoch == 3
    assert model.weights == 3


@pytest.mark.parametrize(
    "losses, stopped_epoch, restored",
    [
        pytest.param([1.0, 0.5, float("nan"), 0.1], 2, 1, id="restores_best"),
        # NaN on the first epoch: the weights from before the first epoch come back.
        pytest.param([float("inf"), 0.5], 0, -1, id="first_epoch_restores_weights_before_fit"),
    ],
)
def test_check_finite_stops_and_restores(losses, stopped_epoch, restored):
    stopper = EarlyStopping(patience=10)
    model = FakeModel()
    epochs = drive(stopper, losses, model=model)
    assert epochs == stopped_epoch + 1
    assert stopper.stop_reason is StopReason.NON_FINITE
    assert stopper.stopped_epoch == stopped_epoch
    assert model.weights == restored


def test_check_finite_false_keeps_training_through_nan():
    stopper = EarlyStopping(patience=10, check_finite=False)
    model = FakeModel()
    epochs = drive(stopper, [1.0, float("nan"), 0.5], model=model)
    assert epochs == 3
    assert stopper.best_epoch == 2
    assert model.weights == 2


@pytest.mark.parametrize(
    ("argument", "mode", "values", "threshold", "reason", "restored"),
    [
        # reaching the target (<=) counts; the weights of the stopping epoch are kept
        ("stopping_threshold", "min", [1.0, 0.5, 0.2, 0.1], 0.2, "THRESHOLD_REACHED", 2),
        ("stopping_threshold", "max", [0.5, 0.8, 0.95, 0.99], 0.9, "THRESHOLD_REACHED", 2),
        # crossing the bound at epoch 2 stops there and restores the best epoch, 1
        ("divergence_threshold", "min", [1.0, 0.8, 3.0, 0.5], 2.0, "DIVERGED", 1),
        ("divergence_threshold", "max", [0.5, 0.6, 0.05, 0.7], 0.1, "DIVERGED", 1),
    ],
)
def test_thresholds_stop_at_epoch_2(argument, mode, values, threshold, reason, restored):
    stopper = EarlyStopping(monitor="m", mode=mode, patience=10, **{argument: threshold})
    model = FakeModel()
    drive(stopper, values, monitor="m", model=model)
    assert stopper.stop_reason is StopReason[reason]
    assert stopper.stopped_epoch == 2
    assert model.weights == restored


def test_min_delta_absolute_and_relative():
    # Hand computation: best 10. Absolute δ=0.1 → 9.5 < 9.9 improves. Relative δ=0.1 →
    # threshold 10 − 0.1·10 = 9, so 9.5 does not improve and patience 1 stops at epoch 1.
    values = [10.0, 9.5, 8.9, 8.8]
    absolute = EarlyStopping(patience=1, min_delta=0.1)
    assert drive(absolute, values) == 4
    relative = EarlyStopping(patience=1, min_delta=0.1, min_delta_mode="relative")
    assert drive(relative, values) == 2
    assert relative.best_value == 10.0

    # Max mode: best 0.5, relative δ=0.1 → needs > 0.55.
    stopper = EarlyStopping(monitor="acc", patience=1, min_delta=0.1, min_delta_mode="relative")
    assert drive(stopper, [0.5, 0.54, 0.56], monitor="acc") == 2


def test_missing_metric_warns_with_available_metrics():
    stopper = EarlyStopping(monitor="val_loss")
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available.*loss, other"):
        stopper.on_epoch_end(0, logs={"loss": 1.0, "other": 2.0})
    assert stopper.best is None


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ("val_accuracy", "max"),
        ("acc", "max"),
        ("val_sparse_categorical_accuracy", "max"),
        ("top_k_categorical_accuracy", "max"),
        ("val_auc", "max"),
        ("precision", "max"),
        ("val_loss", "min"),
        ("val_mae", "min"),
        ("mean_squared_error", "min"),
    ],
)
def test_mode_auto_from_names(monitor, expected):
    stopper = EarlyStopping(monitor=monitor)
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    assert stopper.resolve_direction() == expected


@pytest.mark.parametrize("mode", ["auto", "min", "max"])
@pytest.mark.parametrize("restore", [True, False])
def test_missing_monitor_warns_in_every_mode(mode, restore):
    stopper = EarlyStopping(monitor="val_lossx", mode=mode, patience=0,
                            restore_best_weights=restore)
    undecidable_name = EarlyStopping(monitor="nothing_like_it", mode=mode)
    for callback in (stopper, undecidable_name):
        model = FakeModel()
        with pytest.warns(UserWarning, match=r"not available\. Available metrics are: "
                                             r"other, val_loss") as caught:
            epochs = drive(callback, [3.0, 2.0, 1.0], monitor="val_loss", model=model)
        assert len(caught) == 1  # once per run, not once per epoch
        assert epochs == 3  # a missing metric never stops training
        assert callback.stop_reason is StopReason.NOT_STOPPED
        assert callback.best_epoch is None and callback.best_value is None
        assert model.weights == 2  # nothing restored: the last epoch's weights stay


def test_best_epoch_none_until_measured_then_set():
    stopper = EarlyStopping(monitor="val_loss", start_from_epoch=5)
    drive(stopper, [3.0, 2.0, 1.0])  # all three epochs are warm-up: nothing measured
    assert stopper.best_epoch is None and stopper.best_value is None
    drive(stopper, [3.0, 2.0, 1.0, 4.0, 5.0, 0.5, 0.7])  # epochs 5 and 6 are measured
    assert stopper.best_epoch == 5 and stopper.best_value == 0.5


def test_verbose_messages_follow_keras_logging_switch(capsys, caplog):
    import logging

    stopper = EarlyStopping(patience=1, verbose=1)
    keras.utils.disable_interactive_logging()
    try:
        with caplog.at_level(logging.INFO):
            drive(stopper, [1.0, 2.0, 3.0])
    finally:
        keras.utils.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    logged = [r.getMessage() for r in caplog.records]
    assert any("EarlyStopping: Epoch 2:" in m for m in logged), logged
    assert any("restoring model weights from the end of the best epoch: 1." in m
               for m in logged), logged


def test_reason_is_printed_when_verbose(capsys):
    stopper = EarlyStopping(patience=1, verbose=1)
    drive(stopper, [1.0, 2.0, 3.0])
    out = capsys.readouterr().out
    assert "did not improve for `patience` epochs" in out
    assert "Epoch 2" in out
    assert "restoring model weights" in out
    assert str(stopper.stop_reason) == StopReason.PATIENCE_EXHAUSTED.message


def test_same_instance_two_runs_and_deepcopy():
    stopper = EarlyStopping(patience=1)
    drive(stopper, [1.0, 2.0, 3.0])
    assert stopper.stop_reason is StopReason.PATIENCE_EXHAUSTED
    # Second run: a stale best (1.0) would stop at once; a reset one runs to the end.
    epochs = drive(stopper, [5.0, 4.0, 3.0])
    assert epochs == 3
    assert stopper.stop_reason is StopReason.NOT_STOPPED
    assert stopper.best_epoch == 2

    clone = copy.deepcopy(EarlyStopping(patience=3, divergence_threshold=5.0))
    assert clone.get_config()["divergence_threshold"] == 5.0


def test_config_roundtrip(config_roundtrip):
    config_roundtrip(EarlyStopping(monitor="val_accuracy", patience=2, baseline=0.5,
                                   stopping_threshold=0.99, min_delta_mode="relative"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patience": -1}, "Argument `patience` must be >= 0"),
        ({"patience": 1.5}, "Argument `patience` must be an integer"),
        ({"mode": "maximum"}, r"Argument `mode` must be one of \{'auto', 'min', 'max'\}"),
        ({"min_delta_mode": "percent"}, "Argument `min_delta_mode` must be one of"),
        ({"start_from_epoch": -2}, "Argument `start_from_epoch` must be >= 0"),
        ({"baseline": "high"}, "Argument `baseline` must be a finite number"),
        ({"mode": "min", "stopping_threshold": 2.0, "divergence_threshold": 1.0},
         "Argument `stopping_threshold` must be < `divergence_threshold`"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


# --------------------------------------------------------------------------- real fit
@pytest.mark.integration
def test_fit_on_digits_restores_best_epoch(tiny_digits, tiny_mlp, seed):
    model = tiny_mlp(optimizer=keras.optimizers.Adam(0.05))
    stopper = EarlyStopping(monitor="val_loss", patience=1)
    history = fit_digits(model, tiny_digits, [stopper])
    val = history.history["val_loss"]
    assert stopper.best_epoch == int(np.argmin(val))
    assert stopper.best_value == pytest.approx(min(val), rel=1e-6)
    assert validation_loss(model, tiny_digits) == pytest.approx(min(val), rel=1e-4)


def test_fit_divergence_stops_with_finite_weights(tiny_regression):
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(10.0), loss="mse")
    stopper = EarlyStopping(monitor="loss", patience=5)
    model.fit(x, y, epochs=30, batch_size=32, verbose=0, callbacks=[stopper])
    assert stopper.stop_reason is StopReason.NON_FINITE
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert math.isfinite(model.evaluate(x, y, verbose=0))
