"""DiagnosticLogger: one-off facts, per-record statistics, CSV output, bad input, safety."""

from __future__ import annotations

import copy
import math
import os

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.diagnostics import DiagnosticLogger
from keras_recipes.diagnostics.data_facts import class_counts, data_facts
from keras_recipes.diagnostics.probe import Probe

pytestmark = pytest.mark.backend


def _stat(frame, epoch, layer, stat):
    rows = frame[(frame.epoch == epoch) & (frame.layer == layer) & (frame.stat == stat)]
    assert len(rows) == 1, (epoch, layer, stat)
    return float(rows.value.iloc[0])


@pytest.fixture(scope="module")
def run(digits_flat, tmp_path_factory):
    """A 2-epoch fit of a 64-16-10 MLP with the logger (probe = first 64 examples)."""
    keras.utils.set_random_seed(0)
    x, y = digits_flat.x[:200], digits_flat.y[:200]
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log_dir = tmp_path_factory.mktemp("logs")
    logger = DiagnosticLogger(data=(x[:150], y[:150]), validation_data=(x[150:], y[150:]),
                              probe_size=64, log_dir=log_dir)
    weights0 = [w.copy() for w in model.get_weights()]
    history = model.fit(x[:150], y[:150], validation_data=(x[150:], y[150:]), epochs=2,
                        batch_size=32, verbose=0, callbacks=[logger])
    return model, logger, history, weights0, (x, y), log_dir


def test_summary_facts_match_numpy(run):
    model, logger, _, _, (x, y), _ = run
    s = logger.summary
    assert s["trainable_params"] == model.count_params() == 64 * 16 + 16 + 16 * 10 + 10
    assert s["non_trainable_params"] == 0
    assert [d["name"] for d in s["layers"]] == [layer.name for layer in model.layers]
    assert s["train_size"] == 150 and s["val_size"] == 50
    np.testing.assert_array_equal(
        [s["train_class_counts"].get(c, 0) for c in range(10)], np.bincount(y[:150], minlength=10))
    stats = s["input_stats"]
    np.testing.assert_allclose([stats["min"], stats["max"], stats["mean"], stats["std"]],
                               [x[:150].min(), x[:150].max(), x[:150].mean(), x[:150].std()],
                               rtol=1e-5)
    assert s["inputs_normalised"] is True
    assert s["expected_initial_loss"] == pytest.approx(math.log(10))
    assert s["steps_per_epoch"] == 5 and s["probe_size"] == 64


def test_records_losses_timing_and_optimizer(run):
    _, logger, history, _, _, _ = run
    f = logger.frame
    assert list(f.columns) == ["epoch", "layer", "stat", "value"]
    for epoch in (1, 2):
        for key in ("loss", "val_loss", "accuracy"):
            assert _stat(f, epoch, "model", key) == pytest.approx(
                history.history[key][epoch - 1], rel=1e-6)
        assert _stat(f, epoch, "model", "non_finite") == 0.0
        assert _stat(f, epoch, "model", "steps") == 5  # ceil(150 / 32)
        epoch_time = _stat(f, epoch, "model", "epoch_time_s")
        assert epoch_time > 0
        assert _stat(f, epoch, "model", "batch_time_mean_s") == pytest.approx(epoch_time / 5)
        assert _stat(f, epoch, "model", "batch_time_max_s") <= epoch_time
        assert _stat(f, epoch, "optimizer", "learning_rate") == pytest.approx(1e-2)
        assert _stat(f, epoch, "optimizer", "beta_1") == pytest.approx(0.9)
        assert _stat(f, epoch, "optimizer", "iterations") == 5 * epoch
    assert _stat(f, 2, "model", "eta_s") == 0.0


def test_update_statistics_match_numpy(run):
    model, logger, _, weights0, _, _ = run
    f = logger.frame
    # Epoch 0 holds the initial weights and epoch 2 the final ones (the exact per-epoch
    # update is checked against NumPy in the single-epoch test below).
    dense = model.layers[0]
    w_final = np.concatenate([w.ravel() for w in dense.get_weights()])
    w_init = np.concatenate([w.ravel() for w in weights0[:2]])
    assert _stat(f, 0, dense.name, "weight_norm") == pytest.approx(np.linalg.norm(w_init),
                                                                    rel=1e-5)
    assert _stat(f, 2, dense.name, "weight_norm") == pytest.approx(np.linalg.norm(w_final),
                                                                    rel=1e-5)
    # Epoch 1 + epoch 2 updates telescope: check their norms bound the total update.
    total = np.linalg.norm(w_final - w_init)
    u1, u2 = _stat(f, 1, dense.name, "update_norm"), _stat(f, 2, dense.name, "update_norm")
    assert total <= u1 + u2 + 1e-5
    ratio = _stat(f, 1, dense.name, "update_ratio")
    assert ratio == pytest.approx(u1 / np.linalg.norm(w_init), rel=1e-4)
    assert _stat(f, 1, dense.name, "update_ratio_per_step") == pytest.approx(ratio / 5)
    assert not f[(f.epoch == 0) & (f.stat == "update_norm")].shape[0]


def test_single_epoch_update_and_initial_loss_match_numpy(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    model = tiny_mlp()
    probs = np.asarray(model.predict(x[:64], verbose=0), dtype="float64")
    expected = -np.mean(np.log(probs[np.arange(64), y[:64]]))
    w0 = [w.copy() for w in model.layers[1].get_weights()]
    logger = DiagnosticLogger(probe=(x[:64], y[:64]), activations=False)
    model.fit(x, y, epochs=1, batch_size=50, verbose=0, callbacks=[logger])
    assert logger.summary["initial_loss"] == pytest.approx(expected, rel=1e-4)
    assert logger.summary["input_stats_source"] == "probe"
    d = np.concatenate([(a - b).ravel()
                        for a, b in zip(model.layers[1].get_weights(), w0, strict=True)])
    f, name = logger.frame, model.layers[1].name
    assert _stat(f, 1, name, "update_norm") == pytest.approx(np.linalg.norm(d), rel=1e-4)
    assert _stat(f, 1, name, "update_mean") == pytest.approx(d.mean(), rel=1e-3, abs=1e-7)
    assert _stat(f, 1, name, "update_var") == pytest.approx(d.var(), rel=1e-3)


def test_activations_predictions_and_histograms(run):
    model, logger, _, _, (x, y), _ = run
    f = logger.frame
    hidden = model.layers[0].name
    probs = np.asarray(model.predict(x[:5], verbose=0))
    np.testing.assert_array_equal(
        [_stat(f, 2, "predictions", f"class_{i}") for i in range(5)], probs.argmax(axis=1))
    assert logger.summary["probe_targets"] == y[:5].tolist()
    hist = f[(f.epoch == 2) & (f.layer == hidden) & f.stat.str.startswith("hist_")]
    assert len(hist) == 40 and hist.value.sum() == 64 * 16
    assert 0 <= _stat(f, 2, hidden, "act_dead_fraction") <= 1
    assert _stat(f, 2, hidden, "grad_norm") > 0


def test_csv_holds_every_row_and_summary_json(run):
    _, logger, _, _, _, log_dir = run
    csv = pd.read_csv(os.path.join(log_dir, "diagnostics.csv"))
    pd.testing.assert_frame_equal(csv, logger.frame, check_dtype=False)
    assert os.path.isfile(os.path.join(log_dir, "summary.json"))


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("crash")


def test_csv_is_flushed_each_epoch_so_a_crash_loses_at_most_one(tiny_digits, tiny_mlp,
                                                                tmp_path, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), log_dir=tmp_path, activations=False)
    with pytest.raises(RuntimeError, match="crash"):
        tiny_mlp().fit(x, y, epochs=5, verbose=0, callbacks=[logger, _Crash()])
    csv = pd.read_csv(tmp_path / "diagnostics.csv")
    assert set(csv.epoch) == {0, 1, 2}


def test_every_n_epochs_records_probe_stats_on_schedule(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), every_n_epochs=2, activations=False)
    tiny_mlp().fit(x, y, epochs=3, batch_size=100, verbose=0, callbacks=[logger])
    f = logger.frame
    assert sorted(set(f[f.stat == "loss"].epoch)) == [1, 2, 3]
    assert sorted(set(f[f.stat == "grad_norm"].epoch)) == [0, 2, 3]
    # the epoch-2 record covers 4 steps (2 epochs × 2 batches), epoch 3 covers 2
    name = f[f.stat == "update_ratio"].layer.iloc[0]
    assert _stat(f, 2, name, "update_ratio_per_step") == pytest.approx(
        _stat(f, 2, name, "update_ratio") / 4)
    assert _stat(f, 3, name, "update_ratio_per_step") == pytest.approx(
        _stat(f, 3, name, "update_ratio") / 2)


def test_internal_error_becomes_a_warning_and_training_goes_on(tiny_digits, tiny_mlp,
                                                               monkeypatch, seed):
    x, y = tiny_digits

    def broken(self, previous=None):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(Probe, "measure", broken)
    logger = DiagnosticLogger(probe=(x[:16], y[:16]))
    with pytest.warns(RuntimeWarning, match="DiagnosticLogger: probe statistics .* skipped"):
        history = tiny_mlp().fit(x, y, epochs=2, batch_size=100, verbose=0,
                                 callbacks=[logger])
    assert len(history.history["loss"]) == 2
    assert set(logger.frame[logger.frame.stat == "loss"].epoch) == {1, 2}


def test_probe_that_does_not_fit_the_model_warns_and_skips(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(np.ones((8, 5), "float32"), np.zeros(8, "int64")))
    with pytest.warns(RuntimeWarning, match="must hold inputs of shape"):
        tiny_mlp().fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert "grad_norm" not in set(logger.frame.stat)
    assert "loss" in set(logger.frame.stat)


def test_class_stats_on_regression_warns_and_skips(tiny_regression, seed):
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    logger = DiagnosticLogger(data=(x, y), class_stats=True)
    with pytest.warns(RuntimeWarning, match="class statistics asked for"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert "train_class_counts" not in logger.summary
    assert logger.summary["expected_initial_loss"] is None
    assert {"value_0", "value_4"} <= set(logger.frame.stat)


def test_no_probe_warns_and_still_records_curves(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger()
    with pytest.warns(RuntimeWarning, match="no probe batch"):
        tiny_mlp().fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert "loss" in set(logger.frame.stat)


@pytest.mark.parametrize("kwargs, match", [
    ({"every_n_epochs": 0}, "Argument `every_n_epochs` must be > 0"),
    ({"every_n_epochs": 1.5}, "Argument `every_n_epochs` must be an integer"),
    ({"predictions": -1}, "Argument `predictions` must be >= 0"),
    ({"probe": (np.ones((4, 2)), np.ones(3))}, "as many targets as inputs"),
    ({"probe": np.ones((4, 2))}, "Argument `probe` must be a pair"),
    ({"histogram_range": (1.0, 1.0)}, "Argument `histogram_range`"),
    ({"tensorboard": True}, "needs a `log_dir`"),
    ({"class_stats": "yes"}, "Argument `class_stats`"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiagnosticLogger(**kwargs)


def test_log_dir_that_is_a_file_is_rejected(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="Argument `log_dir` must be a folder"):
        DiagnosticLogger(log_dir=path)


def test_keeps_async_batch_end_dispatch():
    # Overriding on_train_batch_end would force a host sync per step (DESIGN.md §5).
    assert DiagnosticLogger.on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
    assert DiagnosticLogger.on_batch_end is keras.callbacks.Callback.on_batch_end


def test_reusable_and_deep_copyable(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), activations=False, gradients=False)
    clone = copy.deepcopy(logger)  # what KerasTuner does per trial
    model = tiny_mlp()
    model.fit(x, y, epochs=2, batch_size=100, verbose=0, callbacks=[logger])
    model.fit(x, y, epochs=1, batch_size=100, verbose=0, callbacks=[logger])
    assert sorted(set(logger.frame.epoch)) == [0, 1]  # state reset by on_train_begin
    assert clone.frame.empty and logger._probe is None


def test_config_roundtrip(config_roundtrip, tmp_path):
    logger = DiagnosticLogger(log_dir=str(tmp_path), every_n_epochs=3, predictions=2,
                              histogram_range=(-1.0, 2.0), class_stats=False)
    rebuilt = config_roundtrip(logger)
    assert rebuilt.every_n_epochs == 3 and rebuilt.histogram_range == (-1.0, 2.0)


def test_class_counts_and_data_facts():
    assert class_counts(np.array([0, 1, 1, 2])) == {0: 1, 1: 2, 2: 1}
    assert class_counts(np.eye(3)[[0, 0, 2]]) == {0: 2, 2: 1}
    assert class_counts(np.array([0.5, 1.2])) is None
    facts = data_facts(np.full((10, 2), 255.0), np.array([0] * 9 + [1]))
    assert facts["input_stats"]["normalised"] is False
    assert facts["imbalanced"] is True and facts["imbalance_ratio"] == 9.0


@pytest.mark.tf_only
def test_tensorboard_writes_event_files(tiny_digits, tiny_mlp, tmp_path, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), log_dir=tmp_path, tensorboard=True)
    tiny_mlp().fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    events = os.listdir(tmp_path / "tensorboard")
    assert any(name.startswith("events.out.tfevents") for name in events)


@pytest.mark.parametrize("kwargs, match", [
    ({"probe": ([np.ones((4, 2))], np.ones(4), 1)}, "Argument `probe` must be a pair"),
    ({"log_dir": 3}, "Argument `log_dir` must be a folder path"),
    ({"log_dir": ""}, "Argument `log_dir` must be a folder path"),
    ({"every_n_epochs": "2"}, "Argument `every_n_epochs` must be an integer"),
    ({"activations": "no"}, "Argument `activations` must be True or False"),
    ({"updates": 1}, "Argument `updates` must be True or False"),
    ({"gradients": None}, "Argument `gradients` must be True or False"),
    ({"predictions": 2.5}, "Argument `predictions` must be an integer"),
    ({"tensorboard": "yes"}, "Argument `tensorboard` must be True or False"),
    ({"data": (np.ones((4, 2)), np.ones(5))}, "Argument `data` must hold as many targets"),
    ({"data": np.ones((4, 2))}, "Argument `data` must be a pair"),
    ({"validation_data": (np.ones((4, 2)),)}, "Argument `validation_data` must be a pair"),
    ({"validation_data": (np.ones((0, 2)), np.ones(0))},
     "Argument `validation_data` must hold at least one example"),
    ({"test_data": (np.ones((4, 2)), np.ones(3))}, "Argument `test_data` must hold as many"),
    ({"probe_size": 0}, "Argument `probe_size` must be > 0"),
    ({"class_stats": 1}, "Argument `class_stats` must be None, True or False"),
    ({"histogram_bins": 0}, "Argument `histogram_bins` must be > 0"),
    ({"histogram_range": 5}, "Argument `histogram_range` must be a pair"),
    ({"histogram_range": (0.0, float("inf"))}, "Argument `histogram_range` must be"),
    ({"append": "true"}, "Argument `append` must be True or False"),
    ({"activation_layers": "dense"}, "Argument `activation_layers` must be a non-empty list"),
    ({"activation_layers": [1, 2]}, "Argument `activation_layers` must be a non-empty list"),
    ({"batch_size": 0}, "Argument `batch_size` must be > 0"),
    ({"batch_size": 3.5}, "Argument `batch_size` must be an integer"),
    ({"step_updates": "on"}, "Argument `step_updates` must be True or False"),
    ({"image_grid": -1}, "Argument `image_grid` must be >= 0"),
    ({"image_shape": (8, 8, 2)}, r"Argument `image_shape` must be None, \(h, w\)"),
    ({"image_shape": (8.0, 8)}, "Argument `image_shape` must be None"),
    ({"train_inference_check": "no"}, "Argument `train_inference_check` must be True"),
])
def test_every_argument_is_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiagnosticLogger(**kwargs)


def test_unknown_argument_is_rejected():
    with pytest.raises(TypeError, match="unexpected keyword argument 'probe_sizes'"):
        DiagnosticLogger(probe_sizes=3)
