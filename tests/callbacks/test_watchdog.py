"""Watchdog: each rule on a planted fault, a healthy run, fatal=, the report, arguments."""

from __future__ import annotations

import copy
import math

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import Watchdog, WatchdogEvent
from keras_recipes.callbacks.watchdog import CODES, DEFAULT_FATAL
from keras_recipes.diagnostics import Finding

RNG = np.random.default_rng(0)
X = RNG.normal(size=(512, 8)).astype("float32")
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype("int64")
STEPS = 16  # 512 examples, batch 32


def mlp(widths=(16,), activation="relu", init="he_uniform", bias=0.0, head=2):
    layers = [keras.Input((8,))]
    for i, width in enumerate(widths):
        layers.append(keras.layers.Dense(
            width, activation=activation, kernel_initializer=init,
            bias_initializer=keras.initializers.Constant(bias), name=f"hidden_{i}"))
    layers.append(keras.layers.Dense(head, activation="softmax", name="head"))
    return keras.Sequential(layers)


def fit(model, watchdog, optimizer="adam", epochs=3, x=X, y=Y, batch_size=32):
    keras.utils.set_random_seed(0)
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                        callbacks=[watchdog])
    return history, int(keras.ops.convert_to_numpy(model.optimizer.iterations))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# ------------------------------------------------------------------- rules on planted faults
@pytest.mark.backend
def test_overflowing_forward_pass_stops_before_the_first_step():
    # 1e38 × 8 inputs of magnitude ~0.8 overflows float32 (3.4e38) in the first layer.
    assert np.any(np.abs(X[:64].astype("float64") @ np.full((8, 16), 1e38)) > 3.4e38)
    model = mlp(init=keras.initializers.Constant(1e38))
    dog = Watchdog(data=(X, Y), verbose=0)
    _, steps = fit(model, dog)
    r = dog.stop_reason
    assert r.code == "nonfinite_activations" and r.step == 0 and r.epoch == 0
    assert r.layer == "hidden_0" and r.fatal
    assert r.finding.severity == "error" and "learning rate" in r.advice
    assert model.stop_training and steps <= 3  # fit checks the flag after a step


@pytest.mark.backend
def test_nonfinite_loss_at_step_one_without_a_probe():
    model = mlp(init=keras.initializers.Constant(1e38))
    losses = []  # the running loss Keras reports after each step, recorded beside the dog
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    with pytest.warns(RuntimeWarning, match="no probe batch"):
        dog = Watchdog(verbose=0)
        keras.utils.set_random_seed(0)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(X, Y, epochs=3, batch_size=32, verbose=0, callbacks=[dog, record])
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v)) + 1
    assert dog.stop_reason.code == "nonfinite_loss" and dog.stop_reason.step == first_bad
    assert not math.isfinite(dog.stop_reason.finding.evidence["value"])
    if keras.backend.backend() == "tensorflow":  # callbacks run in step: stops at once
        assert first_bad == 1 and len(losses) == 1
    else:  # callbacks on a thread (JAX, torch): the stop lands within the first epoch
        assert len(losses) <= 16


@pytest.mark.slow_elsewhere
@pytest.mark.backend
def test_twelve_sigmoid_layers_vanish_at_the_first_probe_after_init():
    if keras.backend.backend() == "torch":
        pytest.skip("the probe has no gradients on the torch backend")
    model = mlp(widths=(32,) * 12, activation="sigmoid", init="glorot_uniform")
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    _, steps = fit(model, dog)
    r = dog.stop_reason
    # Probes at steps 0 and 4; the rule must hold on 2 probes in a row (confirm=2).
    assert r.code == "vanishing_gradients" and r.step == 4 and r.layer == "hidden_0"
    assert r.finding.evidence["initial_hidden_ratio"] < 1e-2
    assert steps == 5


@pytest.mark.slow_elsewhere
@pytest.mark.backend
def test_learning_rate_zero_weights_do_not_move():
    dog = Watchdog(data=(X, Y), probe_every=5, verbose=0)
    _, steps = fit(mlp(), dog, optimizer=keras.optimizers.Adam(0.0))
    r = dog.stop_reason
    # The first update ratio is measured at the probe of step 5: exactly 0 in every layer.
    assert r.code == "update_ratio_low" and r.step == 5
    assert set(r.finding.evidence["ratio_per_step"].values()) == {0.0}
    assert steps == 6


@pytest.mark.backend
def test_frozen_model_is_reported_before_training():
    model = mlp()
    model.trainable = False
    dog = Watchdog(data=(X, Y), verbose=0)
    fit(model, dog)
    assert dog.stop_reason.code == "update_ratio_low" and dog.stop_reason.step == 0
    assert dog.stop_reason.finding.evidence == {"trainable_weights": 0}


@pytest.mark.slow_elsewhere
@pytest.mark.backend
def test_dead_relu_units():
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    fit(mlp(widths=(16, 16), bias=-10.0), dog)
    r = dog.stop_reason
    # Biases of -10 on unit-scale inputs: every pre-activation is negative from the start.
    pre = X @ np.zeros((8, 1)) - 10.0
    assert np.all(pre < 0)
    assert r.code == "dead_units" and r.step == 4 and r.layer == "hidden_0"
    assert r.finding.evidence["dead_fraction"]["hidden_0"] == 1.0


@pytest.mark.slow_elsewhere
@pytest.mark.backend
def test_saturated_tanh_units():
    big = keras.initializers.VarianceScaling(400.0, "fan_in", "untruncated_normal")
    model = mlp(widths=(64,), activation="tanh", init=big)
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    fit(model, dog)
    r = dog.stop_reason
    assert r.code == "saturated_units" and r.step == 4 and r.layer == "hidden_0"
    # tanh' = 1 − tanh²: its probe mean from the weights, in NumPy.
    w, b = (np.asarray(v) for v in model.get_layer("hidden_0").get_weights())
    derivative = float(np.mean(1.0 - np.tanh(X[:64] @ w + b) ** 2))
    assert derivative < 0.25
    assert r.finding.evidence["mean_derivative_over_peak"]["hidden_0"] < 0.25


@pytest.mark.backend
def test_exploding_loss_with_a_huge_rate():
    # Linear regression, SGD at 1.5: above 2 / (largest eigenvalue of the MSE's Hessian
    # 2·XᵀX/n), so every step multiplies the error; no probe, so the loss windows start it.
    hessian = 2 * X.T.astype("float64") @ X / len(X)
    assert 1.5 > 2 / np.linalg.eigvalsh(hessian).max()
    target = (X @ RNG.normal(size=(8, 1))).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.5), "mse")
    dog = Watchdog(fatal=["exploding_loss"], verbose=0)
    with pytest.warns(RuntimeWarning, match="no probe batch"):
        model.fit(X, target, epochs=3, batch_size=32, verbose=0, callbacks=[dog])
    r = dog.stop_reason
    # Windows of 4 steps: the first one is the start, the second is already 10x above it.
    assert r.code == "exploding_loss" and r.step == 8
    assert r.finding.evidence["window_loss"] > 10 * r.finding.evidence["start_loss"]


def _oscillation_step(losses, ref, rise=0.1, floor_fraction=0.01, windows=12):
    """The first step whose last ``windows`` full-batch losses satisfy the rule (NumPy)."""
    for n in range(5, len(losses) + 1):
        recent = np.asarray(losses[max(0, n - windows):n])
        up = np.diff(recent)
        rel = up / np.abs(recent[:-1])
        rises = np.sum((rel > rise) & (up > floor_fraction * ref))
        if rises >= 2 and rises / len(up) >= 0.25:
            return n
    return None


@pytest.mark.backend
def test_oscillating_full_batch_loss_stops_where_a_numpy_reading_of_the_losses_says():
    # Full-batch SGD far above the edge of stability: each epoch is one step on the same
    # 512 examples, so the logged epoch losses are the per-step losses. The initial weights
    # come from NumPy (He uniform kernels, zero biases), the same on every backend: each
    # backend's own draw starts another trajectory (torch's first draw never oscillates).
    def run(callbacks):
        keras.utils.set_random_seed(0)
        model = mlp(widths=(32,))
        rng = np.random.default_rng(0)
        model.set_weights([rng.uniform(-1, 1, w.shape).astype("float32")
                           * (math.sqrt(6 / w.shape[0]) if w.ndim == 2 else 0.0)
                           for w in model.get_weights()])
        model.compile(keras.optimizers.SGD(8.0), "sparse_categorical_crossentropy")
        return model.fit(X, Y, epochs=30, batch_size=512, verbose=0, callbacks=callbacks)

    losses = run([]).history["loss"]
    expected = _oscillation_step([v for v in losses if math.isfinite(v)], math.log(2))
    assert expected is not None
    dog = Watchdog(fatal=["oscillating_loss"], verbose=0)
    with pytest.warns(RuntimeWarning):
        run([dog])
    assert dog.stop_reason.code == "oscillating_loss"
    assert dog.stop_reason.step == expected


@pytest.mark.backend
def test_flat_loss_and_accuracy_after_patience_with_fatal_choice():
    # Windows of a whole epoch (16 steps) at learning rate 0: every window has the same
    # mean loss and accuracy; patience 32 steps -> both rules fire when step 32 closes.
    dog = Watchdog(window=STEPS, patience=2 * STEPS, fatal=["accuracy_not_increasing"],
                   verbose=0)
    with pytest.warns(RuntimeWarning):
        _, steps = fit(mlp(), dog, optimizer=keras.optimizers.Adam(0.0), epochs=4)
    codes = [(e.code, e.step, e.fatal) for e in dog.events]
    assert ("flat_loss", 32, False) in codes
    assert dog.stop_reason.code == "accuracy_not_increasing" and dog.stop_reason.step == 32
    assert steps == 32


# ----------------------------------------------------------------------------- healthy
@pytest.mark.backend
def test_healthy_run_is_not_stopped():
    dog = Watchdog(data=(X, Y), verbose=0)
    history, steps = fit(mlp(widths=(32, 32)), dog, epochs=6)
    assert dog.stop_reason is None and dog.events == []
    assert steps == 6 * STEPS and len(history.history["loss"]) == 6
    assert "training was not stopped" in dog.report()


# ------------------------------------------------------------------------- fatal, report
@pytest.mark.backend
def test_fatal_empty_never_stops_and_report_lists_findings_in_step_order(capsys):
    dog = Watchdog(data=(X, Y), probe_every=4, fatal=[], verbose=1)
    _, steps = fit(mlp(widths=(16, 16), bias=-10.0), dog, optimizer=keras.optimizers.Adam(
        0.0), epochs=2)
    assert dog.stop_reason is None and steps == 2 * STEPS
    events = dog.events
    assert [e.step for e in events] == sorted(e.step for e in events)
    assert {"dead_units", "update_ratio_low"} <= {e.code for e in events}
    assert not any(e.fatal for e in events)
    report = dog.report().splitlines()
    assert report[0] == f"Watchdog: {len(events)} finding(s); training was not stopped."
    printed = capsys.readouterr().out
    assert printed.count("Watchdog: step") == len(events)


def test_unknown_fatal_code_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Argument `fatal` must list finding codes among "
                       r"\[.*'dead_units'.*\]\. Received: unknown code\(s\) \['nan'\]"):
        Watchdog(fatal=["nan", "dead_units"])
    with pytest.raises(ValueError, match="Argument `fatal`"):
        Watchdog(fatal="dead_units")


def test_default_fatal_codes_are_known_and_leave_update_ratio_high_out():
    assert set(DEFAULT_FATAL) <= set(CODES)
    assert set(CODES) - set(DEFAULT_FATAL) == {"update_ratio_high"}
    assert Watchdog().fatal == DEFAULT_FATAL


@pytest.mark.parametrize("kwargs, pattern", [
    ({"probe_every": 0}, "Argument `probe_every`"),
    ({"patience": "3"}, "Argument `patience`"),
    ({"confirm": 0}, "Argument `confirm`"),
    ({"max_overhead": -0.1}, "Argument `max_overhead`"),
    ({"exploding_factor": 1.0}, "Argument `exploding_factor`"),
    ({"flat_tolerance": 0.0}, "Argument `flat_tolerance`"),
    ({"gradient_ratio": (1.0, 0.1)}, "Argument `gradient_ratio`"),
    ({"saturation": (0.3, 0.2)}, "Argument `saturation`"),
    ({"saturation": (0.5, 2.0)}, "Argument `saturation`"),
    ({"update_ratio": (1e-4,)}, "Argument `update_ratio`"),
    ({"dead_fraction": 1.0}, "Argument `dead_fraction`"),
    ({"fail_trial": "yes"}, "Argument `fail_trial`"),
    ({"verbose": -1}, "Argument `verbose`"),
    ({"data": (X, Y[:10])}, "Argument `data`"),
])
def test_argument_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Watchdog(**kwargs)


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError):
        Watchdog(patiense=3)


def test_event_string_and_one_line():
    finding = Finding("warning", "dead_units", "units are dead", {"x": 1}, "use He")
    event = WatchdogEvent(finding, step=7, epoch=1, layer="hidden_0", fatal=False)
    assert str(event).startswith("step 7 (epoch 2) in hidden_0: [WARNING] dead_units")
    assert event.one_line() == ("dead_units at step 7 (epoch 2) in hidden_0: units are "
                                "dead Advice: use He")
    with pytest.raises(dataclasses_frozen_error()):
        event.step = 3


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


# -------------------------------------------------------------------- config and saving
def test_config_round_trip():
    dog = Watchdog(probe_every=7, patience=30, fatal=["dead_units"], gradient_ratio=(1e-3, 1e3),
                   verbose=0)
    again = Watchdog.from_config(dog.get_config())
    assert again.get_config() == dog.get_config()
    assert again.fatal == ("dead_units",) and again.gradient_ratio == (1e-3, 1e3)


@pytest.mark.backend
def test_stopped_model_round_trips_through_keras_file(tmp_path):
    model = mlp(widths=(16, 16), bias=-10.0)
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    fit(model, dog)
    assert dog.stop_reason.code == "dead_units"
    path = tmp_path / "stopped.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(again.predict(X[:16], verbose=0)),
        keras.ops.convert_to_numpy(model.predict(X[:16], verbose=0)))
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backend
def test_reused_and_deep_copied_after_a_run():
    dog = Watchdog(data=(X, Y), probe_every=4, verbose=0)
    fit(mlp(widths=(16, 16), bias=-10.0), dog)
    assert dog.stop_reason is not None
    clone = copy.deepcopy(dog)
    assert clone.get_config() == dog.get_config()
    # A second fit starts from a clean state.
    fit(mlp(widths=(32, 32)), dog, epochs=2)
    assert dog.stop_reason is None and dog.events == []
