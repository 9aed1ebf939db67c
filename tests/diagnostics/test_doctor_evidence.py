"""The doctor warns on evidence only: healthy-looking runs stay quiet, faulty ones do not.

Synthetic curves and summaries are written by hand; each expected value is worked out in
the comment next to it, not taken from the rule.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.diagnostics import (
    DiagnosticLogger,
    RunRecord,
    curve_rules,
    diagnose,
    probe_rules,
)
from keras_recipes.diagnostics.data_facts import data_facts, row_hashes, shared_fraction
from keras_recipes.diagnostics.model_facts import (
    loss_from_logits,
    normalisation_layer,
    output_activation,
)

LN2, LN3, LN10 = math.log(2), math.log(3), math.log(10)


def _alarms(findings):
    return {f.code for f in findings if f.severity in ("error", "warning")}


def _record(loss, val=None, summary=None, frame=None, **curves):
    c = {"loss": np.asarray(loss, dtype=float)}
    if val is not None:
        c["val_loss"] = np.asarray(val, dtype=float)
    c.update({k: np.asarray(v, dtype=float) for k, v in curves.items()})
    return RunRecord(c, frame if frame is not None else pd.DataFrame(), dict(summary or {}))


# ----------------------------------------------------------------------------- underfitting
def _floor_curve(n=30, floor=0.35, start=LN2, tau=3.0):
    """Epoch means of a loss that decays from ``start`` to a noise floor (mid-epoch times)."""
    t = np.arange(n) + 0.5
    return floor + (start - floor) * np.exp(-t / tau)


def test_a_noisy_task_at_its_floor_is_not_underfitting():
    # Noisy circles: the loss settles at 0.35 (about half of ln 2 = 0.69, far above
    # 0.1 ln 2 = 0.069) and the validation loss a little above. Over the last 8 epochs the
    # loss falls by 0.34 (e^-22.5/3 - e^-30.5/3) ≈ 2e-4 in all: nothing left to gain.
    loss = _floor_curve()
    val = loss + 0.02
    record = _record(loss, val, {"expected_initial_loss": LN2, "initial_loss": LN2})
    findings = curve_rules.underfitting(record)
    assert [(f.code, f.severity) for f in findings] == [("loss_plateau", "info")]
    assert "underfitting" not in _alarms(diagnose(record))


def test_a_run_still_falling_fast_is_underfitting():
    # Linear fall from 2.3 to 1.4 over 10 epochs (0.1 per epoch), validation parallel.
    # Last quarter = 3 epochs: 0.1 / 1.4 ≈ 7 % of the loss per epoch, the same rate as the
    # run's average (ratio ≈ 1): the curve has not bent, more epochs will help.
    loss = np.linspace(2.3, 1.4, 10)
    record = _record(loss, loss + 0.05, {"expected_initial_loss": LN10})
    found = curve_rules.underfitting(record)
    assert [f.code for f in found] == ["underfitting"] and found[0].severity == "warning"
    ev = found[0].evidence
    assert ev["window_epochs"] == 3
    assert ev["recent_drop_fraction"] == pytest.approx(0.1 / 1.4)
    assert ev["recent_over_average_rate"] == pytest.approx(1.0)


def test_train_falling_while_validation_rises_is_not_underfitting():
    # The train loss still falls 0.1 per epoch but the validation loss turned up: more
    # epochs would fit the training set only.
    loss = np.linspace(2.3, 1.4, 10)
    val = np.array([2.3, 2.1, 1.9, 1.8, 1.75, 1.74, 1.76, 1.8, 1.85, 1.9])
    record = _record(loss, val, {"expected_initial_loss": LN10})
    assert curve_rules.underfitting(record) == []


def test_a_slow_start_counts_from_the_initial_loss():
    # Two epochs only, initial loss 2.30 at t = 0, epoch means 2.10 (t = 0.5) and 1.70
    # (t = 1.5): recent rate 0.4 / epoch, average (2.3 - 1.7) / 1.5 = 0.4 / epoch.
    record = _record([2.10, 1.70], None, {"expected_initial_loss": LN10,
                                          "initial_loss": 2.30})
    found = curve_rules.underfitting(record)
    assert found and found[0].evidence["recent_over_average_rate"] == pytest.approx(1.0)


def test_a_two_epoch_run_is_judged_on_its_last_epoch():
    # The Keras guide's MLP, 2 epochs on 3600 MNIST digits: initial loss 2.33 (t = 0),
    # epoch means 1.089 (t = 0.5) and 0.431 (t = 1.5); validation 0.696 then 0.538 (-23 %).
    # The window is the last epoch, not the whole run: recent rate 1.089 - 0.431 = 0.658 per
    # epoch, 0.658 / 0.431 ≈ 153 % of the loss; the run's average (2.33 - 0.431) / 1.5 =
    # 1.266 per epoch, so the ratio is 0.658 / 1.266 ≈ 0.52 ≥ 0.3: the curve has not bent.
    # Trained for 12 epochs the same script reaches 0.926 test accuracy instead of 0.853:
    # the warning is earned.
    record = _record([1.089, 0.431], [0.696, 0.538], {"expected_initial_loss": LN10,
                                                       "initial_loss": 2.33})
    found = curve_rules.underfitting(record)
    assert [f.code for f in found] == ["underfitting"]
    ev = found[0].evidence
    assert ev["window_epochs"] == 1
    assert ev["recent_drop_per_epoch"] == pytest.approx(0.658)
    assert ev["recent_drop_fraction"] == pytest.approx(0.658 / 0.431)
    assert ev["recent_over_average_rate"] == pytest.approx(0.658 / ((2.33 - 0.431) / 1.5))
    # The same curve bent to a floor in epoch 2 (1.089 → 1.08): 0.009 / 1.08 < 1 % per
    # epoch, no warning.
    bent = _record([1.089, 1.08], [0.696, 0.69], {"expected_initial_loss": LN10,
                                                  "initial_loss": 2.33})
    assert "underfitting" not in {f.code for f in curve_rules.underfitting(bent)}


def test_with_two_points_the_bend_is_not_measured():
    # The initial loss 2.3 (t = 0) and one epoch mean 1.2 (t = 0.5): one segment, no
    # earlier rate to compare with. The fall is 1.1 / 0.5 = 2.2 per epoch, 2.2 / 1.2 of the
    # loss; the bend is reported as unknown, not as "1× the run's average rate".
    record = _record([1.2], [1.0], {"expected_initial_loss": LN10, "initial_loss": 2.3})
    found = curve_rules.underfitting(record)
    assert [f.code for f in found] == ["underfitting"]
    assert found[0].evidence["recent_over_average_rate"] is None
    assert found[0].evidence["recent_drop_fraction"] == pytest.approx(2.2 / 1.2)
    assert "too few epochs" in found[0].message


def test_no_plateau_note_for_a_loss_that_never_left_ln_c():
    # Adadelta at 0.001 on MNIST: 12 epochs from 2.304 to 2.271, 0.99 ln 10; the loss
    # never went 10 % below ln C (2.07), so "noise floor" would be the wrong reading.
    loss = np.linspace(2.304, 2.271, 12)
    record = _record(loss, loss - 0.002, {"expected_initial_loss": LN10,
                                          "initial_loss": 2.305})
    assert curve_rules.underfitting(record) == []
    # A learning rate of 0 on a regression: the loss stays at 589, the reference 574.
    record = _record([589.15] * 130, None, {"expected_initial_loss": 573.8})
    assert curve_rules.underfitting(record) == []


# ----------------------------------------------------------------------------- oscillation
# The train loss of the Keras repository's MNIST MLP (512-512 ReLU, dropout 0.2, RMSprop
# 1e-3, 20 epochs on 3600 digits), its validation loss and accuracies.
MNIST_MLP = {
    "loss": [0.8645, 0.353, 0.25, 0.1869, 0.1347, 0.1055, 0.0769, 0.0594, 0.0452, 0.0314,
             0.0232, 0.0255, 0.0103, 0.0114, 0.0136, 0.0093, 0.0097, 0.0039, 0.0033, 0.0091],
    "val_loss": [0.8549, 0.4975, 0.3864, 0.3761, 0.3822, 0.2664, 0.2472, 0.2678, 0.2921,
                 0.2709, 0.2495, 0.225, 0.2363, 0.2709, 0.2599, 0.2614, 0.27, 0.2582,
                 0.2715, 0.2685],
    "accuracy": [0.7361, 0.8925, 0.9264, 0.9453, 0.9611, 0.9722, 0.9792, 0.9817, 0.9875,
                 0.9925, 0.9933, 0.9931, 0.9989, 0.9972, 0.9961, 0.9981, 0.9981, 0.9994,
                 0.9997, 0.9975],
    "val_accuracy": [0.7125, 0.85, 0.88, 0.88, 0.8875, 0.9125, 0.93, 0.9225, 0.9225, 0.9275,
                     0.9325, 0.935, 0.94, 0.935, 0.9275, 0.93, 0.9325, 0.94, 0.9425, 0.9325],
}


def test_rises_of_a_loss_near_zero_are_not_oscillation():
    # Five epochs rise by more than 2 % of the previous loss (0.0232 → 0.0255, 0.0103 →
    # 0.0114 → 0.0136, 0.0093 → 0.0097, 0.0033 → 0.0091), 5 of 19 ≥ 25 %; but the largest
    # rise is 0.0058 nats, 0.25 % of ln 10 = 2.30, below the 1 % floor (0.023 nats).
    curves = {k: v for k, v in MNIST_MLP.items() if k != "loss"}
    record = _record(MNIST_MLP["loss"], summary={"expected_initial_loss": LN10,
                                                 "initial_loss": 2.32,
                                                 "num_classes": 10}, **curves)
    assert curve_rules.oscillating_loss(record) == []
    assert _alarms(diagnose(record)) == set()


def test_the_same_relative_rises_count_when_they_are_large_in_nats():
    # Up 0.1 nats in 3 of 7 epochs (1.0 → 0.6 → 0.7 → 0.5 → 0.6 → 0.4 → 0.5 → 0.3): each
    # rise is 17 % to 25 % of the previous loss and 0.1 / 2.30 ≈ 4 % of ln 10 (> 1 %), and
    # 3 of 7 ≥ 25 %: oscillation. The same curve divided by 100 rises by the same fractions,
    # but by 0.001 nats (0.04 % of ln 10): noise.
    loss = np.array([1.0, 0.6, 0.7, 0.5, 0.6, 0.4, 0.5, 0.3])
    found = curve_rules.oscillating_loss(_record(loss, summary={"expected_initial_loss": LN10}))
    assert found and found[0].evidence["rises"] == 3
    small = _record(loss / 100, summary={"expected_initial_loss": LN10})
    assert curve_rules.oscillating_loss(small) == []


# --------------------------------------------------------------------------------- flat
def test_a_run_that_learned_in_epoch_one_is_not_flat():
    # Epoch 1's mean is 0.36, already 48 % below ln 2; afterwards the loss moves by < 5 %
    # over the next ~100 steps (10 epochs of 10 steps): converged, not flat.
    loss = [0.36, 0.355, 0.352, 0.351, 0.35, 0.35, 0.349, 0.349, 0.348, 0.348, 0.348, 0.347]
    record = _record(loss, None, {"expected_initial_loss": LN2, "steps_per_epoch": 10})
    assert curve_rules.flat_loss(record) == []


def test_a_loss_stuck_at_ln_c_or_above_is_flat():
    # Learning rate 0: the loss stays at ln 2. Bad start: it stays at 3.0, above ln 2.
    for level in (LN2, 3.0):
        record = _record([level] * 6, None, {"expected_initial_loss": LN2,
                                             "steps_per_epoch": 25})
        found = curve_rules.flat_loss(record)
        assert found and found[0].evidence["epochs"] == 4  # ceil(100 / 25)


def test_a_single_flat_epoch_is_reported_as_one_epoch():
    # One epoch of one step: the rule compares the initial probe loss with epoch 1's mean,
    # one epoch (one step) apart, whatever the ~100-step window would have been.
    record = _record([LN2], None, {"expected_initial_loss": LN2, "initial_loss": LN2,
                                   "steps_per_epoch": 1})
    found = curve_rules.flat_loss(record)
    assert found and found[0].evidence["epochs"] == 1
    assert "over 1 epoch(s) (1 steps)" in found[0].message


# ------------------------------------------------------------------------- initial loss
@pytest.mark.parametrize("init, expected, severity, word", [
    (3.0, LN2, "warning", "far above"),   # 3.0 > ln 2 + 2 × 1 nat = 2.69
    (2.5, LN2, "info", "above"),          # 1.04 = 1.5 ln 2 < 2.5 < 2.69
    (1.2, LN2, "info", "above"),
    (0.3, LN2, "info", "below"),          # 0.3 < ln 2 / 1.5 = 0.46
    (5.0, LN10, "info", "above"),         # 3.45 < 5.0 < 3 ln 10 = 6.91
    (7.5, LN10, "warning", "far above"),  # 7.5 > 6.91
])
def test_initial_loss_severity_and_wording(init, expected, severity, word):
    record = _record([1.0], None, {"initial_loss": init, "expected_initial_loss": expected})
    (found,) = curve_rules.initial_loss(record)
    assert found.severity == severity and word in found.message
    if word == "below":
        assert "confidently wrong" not in found.message
    assert found.evidence["warning_above"] == pytest.approx(expected + 2 * max(expected, 1.0))


def test_initial_loss_near_ln_c_is_silent():
    for init in (LN3, LN3 * 1.4, LN3 / 1.4):
        record = _record([1.0], None, {"initial_loss": init, "expected_initial_loss": LN3})
        assert curve_rules.initial_loss(record) == []


# ----------------------------------------------------------------- inputs_not_normalised
RAW = {"inputs_normalised": False, "normalisation_layer": None,
       "input_stats": {"min": 0.0, "max": 4254.0, "mean": 61.9, "std": 228.3,
                       "non_finite": 0}}


def _tidy(rows):
    return pd.DataFrame(rows, columns=["epoch", "layer", "stat", "value"])


def test_raw_inputs_without_harm_are_a_note():
    record = _record([0.5, 0.3], None, {**RAW, "initial_loss": 0.8,
                                        "expected_initial_loss": LN2})
    (found,) = probe_rules.inputs_not_normalised(record)
    assert found.severity == "info"


def test_raw_inputs_that_throw_the_initial_loss_off_are_a_warning():
    # 30 nats against ln 2: far above the 2.69 threshold.
    record = _record([5.0, 3.0], None, {**RAW, "initial_loss": 30.0,
                                        "expected_initial_loss": LN2})
    (found,) = probe_rules.inputs_not_normalised(record)
    assert found.severity == "warning" and found.evidence["initial_loss"] == 30.0


def test_raw_inputs_that_blow_up_the_first_hidden_layer_are_a_warning():
    frame = _tidy([(0, "h0", "act_rms", 250.0), (3, "h0", "act_rms", 180.0),
                   (3, "h1", "act_rms", 0.9)])
    record = _record([1.0, 0.9], None, {**RAW, "hidden_layers": ["h0", "h1"]}, frame)
    (found,) = probe_rules.inputs_not_normalised(record)
    assert found.severity == "warning"
    assert found.evidence["first_hidden_layer"] == "h0"
    assert found.evidence["first_hidden_rms"] == 180.0  # the last record


def test_raw_inputs_normalised_inside_the_model_are_fine():
    record = _record([1.0], None, {**RAW, "normalisation_layer": "normalization",
                                   "initial_loss": 30.0, "expected_initial_loss": LN2})
    assert probe_rules.inputs_not_normalised(record) == []


def test_non_finite_inputs_are_a_warning():
    stats = {**RAW["input_stats"], "non_finite": 16}
    record = _record([1.0], None, {**RAW, "input_stats": stats})
    (found,) = probe_rules.inputs_not_normalised(record)
    assert found.severity == "warning" and "16 input value" in found.message


# --------------------------------------------------------------------- saturated units
def _sat_record(activation, mean, rms, first=None):
    """One tanh/sigmoid layer's activation moments at epoch 2 (and at epoch 0: ``first``)."""
    rows = [(2, "h0", "act_mean", mean), (2, "h0", "act_rms", rms)]
    if first is not None:
        rows += [(0, "h0", "act_mean", first[0]), (0, "h0", "act_rms", first[1])]
    layers = [{"name": "h0", "class": "Dense", "activation": activation}]
    return _record([1.0], None, {"layers": layers}, _tidy(rows))


@pytest.mark.parametrize("activation, mean, rms, derivative", [
    ("tanh", 0.0, 0.99, 1 - 0.99 ** 2),          # 0.0199: saturated
    ("tanh", 0.0, 0.6, 1 - 0.36),                # 0.64: healthy
    ("sigmoid", 0.5, math.sqrt(0.5), 0.0),       # all at 0 or 1: E[a(1-a)] = 0
    ("sigmoid", 0.5, math.sqrt(0.26), 0.96),     # std 0.1 around 0.5
])
def test_saturation_from_activation_moments(activation, mean, rms, derivative):
    # One record only: it is both the first and the last.
    found = probe_rules.saturated_units(_sat_record(activation, mean, rms))
    if derivative < probe_rules.SATURATION_DERIVATIVE:
        assert found[0].evidence["mean_derivative_over_peak_last"]["h0"] == pytest.approx(
            derivative, abs=1e-6)
    else:
        assert found == []


def test_saturation_at_initialisation_and_a_confident_trained_layer():
    # Saturated before training (rms 0.9: mean tanh' = 0.19 < 0.25), healthier at the end
    # (rms 0.8: 0.36): the init put the units in the tails.
    found = probe_rules.saturated_units(_sat_record("tanh", 0.0, 0.8, first=(0.0, 0.9)))
    assert found and "at initialisation" in found[0].message
    assert found[0].evidence["mean_derivative_over_peak_first"]["h0"] == pytest.approx(0.19)
    # Glorot start (rms 0.6: 0.64) and a confident trained layer (rms 0.88: 0.23): not
    # below 0.1 at the end, so no warning.
    assert probe_rules.saturated_units(_sat_record("tanh", 0.0, 0.88, first=(0.0, 0.6))) \
        == []


def test_vanishing_gradients_at_initialisation_across_the_hidden_stack():
    # 10 hidden layers, epoch 0: the first gets 1e-6, the last hidden 1e-2, the head 1e-3.
    # Later records: ratio first / head = 0.5 (Adam recovered); median over 4 records 0.5.
    layers = [f"h{i}" for i in range(10)] + ["head"]
    rows = [(0, "h0", "grad_rms", 1e-6)] + [(0, f"h{i}", "grad_rms", 1e-2)
                                            for i in range(1, 10)]
    rows += [(0, "head", "grad_rms", 1e-3)]
    rows += [(e, layer, "grad_rms", 0.5 if layer == "h0" else 1.0) for e in (1, 2, 3)
             for layer in layers]
    record = _record([1.0], None, {}, _tidy(rows))
    (found,) = probe_rules.gradient_depth(record)
    assert found.code == "vanishing_gradients"
    assert found.evidence["initial_grad_rms_ratio_hidden"] == pytest.approx(1e-4)
    assert found.evidence["last_hidden_layer"] == "h9"


def test_a_small_head_does_not_look_like_vanishing_gradients():
    # A head 100× smaller than Glorot scales every hidden gradient alike at epoch 0: first /
    # head = 1e-4, but first / last hidden = 1; later the ratio is 0.5.
    rows = [(0, "h0", "grad_rms", 1e-4), (0, "h1", "grad_rms", 1e-4),
            (0, "head", "grad_rms", 1.0)]
    rows += [(e, layer, "grad_rms", 0.5 if layer == "h0" else 1.0) for e in (1, 2, 3)
             for layer in ("h0", "h1", "head")]
    assert probe_rules.gradient_depth(_record([1.0], None, {}, _tidy(rows))) == []


def test_relu_layers_are_never_saturated():
    assert probe_rules.saturated_units(_sat_record("relu", 5.0, 50.0)) == []


# ---------------------------------------------------------------- output / loss pairing
@pytest.mark.parametrize("loss, logits, act, units, severity", [
    ("sparse_categorical_crossentropy", True, "softmax", 10, "warning"),
    ("sparse_categorical_crossentropy", False, "linear", 10, "warning"),
    ("sparse_categorical_crossentropy", False, "sigmoid", 10, "warning"),
    ("binary_crossentropy", False, "softmax", 1, "error"),
    ("binary_crossentropy", True, "sigmoid", 1, "warning"),
    ("sparse_categorical_crossentropy", False, "softmax", 10, None),
    ("sparse_categorical_crossentropy", True, "linear", 10, None),
    ("binary_crossentropy", False, "sigmoid", 1, None),
    ("mse", False, "linear", 1, None),
])
def test_output_loss_pairing(loss, logits, act, units, severity):
    record = _record([1.0], None, {"loss_name": loss, "loss_from_logits": logits,
                                   "output_activation": act, "num_outputs": units})
    found = probe_rules.output_loss_mismatch(record)
    assert [f.severity for f in found] == ([] if severity is None else [severity])


def test_double_softmax_message_names_the_backends():
    # Keras's TensorFlow backend takes the logits from under a softmax layer when the loss
    # has from_logits=True (and warns); JAX and PyTorch apply softmax twice.
    record = _record([1.0], None, {"loss_name": "categorical_crossentropy",
                                   "loss_from_logits": True, "output_activation": "softmax",
                                   "num_outputs": 10})
    message = probe_rules.output_loss_mismatch(record)[0].message
    assert "JAX" in message and "TensorFlow" in message


def test_model_facts_for_the_pairing():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Softmax()])
    assert output_activation(model) == "softmax"
    assert output_activation(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])) \
        == "linear"
    assert loss_from_logits("sparse_categorical_crossentropy") is False
    assert loss_from_logits(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert loss_from_logits("mse") is None


def test_normalisation_layer_after_reshaping_layers():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Normalization(mean=0.0, variance=1.0, name="norm")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    assert normalisation_layer(model) == "norm"
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2),
                              keras.layers.Normalization(mean=0.0, variance=1.0)])
    assert normalisation_layer(plain) is None


# ------------------------------------------------------------------------- split overlap
def test_row_hashes_find_shared_examples():
    x = np.arange(40, dtype="float32").reshape(20, 2)
    assert shared_fraction(row_hashes(x[:5]), row_hashes(x)) == 1.0
    assert shared_fraction(row_hashes(x[:5] + 0.5), row_hashes(x)) == 0.0
    # Two inputs per example: a row counts as shared only when both inputs match.
    other = np.ones((20, 3), "float32")
    both = row_hashes([x, other])
    moved = row_hashes([x, np.concatenate([other[:10], other[10:] * 2])])
    assert shared_fraction(moved, both) == 0.5
    assert "row_hashes" in data_facts(x, np.zeros(20))


@pytest.mark.parametrize("fraction, severity", [(0.5, "warning"), (0.03, "info"),
                                                (0.0, None)])
def test_split_overlap_severity(fraction, severity):
    record = _record([1.0], None, {"val_in_train_fraction": fraction})
    found = probe_rules.split_overlap(record)
    assert [f.severity for f in found] == ([] if severity is None else [severity])


# -------------------------------------------------------------- on real (tiny) trainings
def _fit(model, train, val, loss="sparse_categorical_crossentropy", lr=3e-3, epochs=1,
         batch_size=64):
    model.compile(keras.optimizers.Adam(lr), loss, metrics=["accuracy"])
    logger = DiagnosticLogger(data=train, validation_data=val)
    model.fit(*train, validation_data=val, epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=[logger])
    return logger


def _circles(n=900, seed=0):
    from sklearn.datasets import make_circles

    x, y = make_circles(n, noise=0.2, factor=0.5, random_state=seed)
    x, cut = x.astype("float32"), 2 * n // 3
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def _mlp(inputs, widths, out=2, activation="relu", init="he_uniform", out_activation="softmax",
         first=None):
    x = first(inputs) if first is not None else inputs
    for w in widths:
        x = keras.layers.Dense(w, activation=activation, kernel_initializer=init)(x)
    return keras.Model(inputs, keras.layers.Dense(out, activation=out_activation)(x))


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_noisy_circles_at_the_floor_get_no_warning(seed):
    # make_circles with noise 0.2: about 15 % of the points sit on the wrong side, so the
    # loss settles far above 0.1 ln 2 while the model is as good as it gets.
    train, val = _circles()
    logger = _fit(_mlp(keras.Input((2,)), (32, 32, 32)), train, val, epochs=25)
    findings = diagnose(logger)
    assert _alarms(findings) == set(), [str(f) for f in findings]
    assert logger.frame.query("stat == 'val_accuracy'").value.iloc[-1] > 0.75


@pytest.mark.integration
def test_raw_table_standardised_by_a_normalization_layer_is_healthy(seed):
    from sklearn.datasets import load_wine

    d = load_wine()
    idx = np.random.default_rng(0).permutation(len(d.target))
    x, y = d.data[idx].astype("float32"), d.target[idx]
    norm = keras.layers.Normalization()
    norm.adapt(x[:120])
    logger = _fit(_mlp(keras.Input((13,)), (32, 32), out=3, first=norm),
                  (x[:120], y[:120]), (x[120:], y[120:]), epochs=20, batch_size=16)
    assert logger.summary["inputs_normalised"] is False  # raw data...
    findings = diagnose(logger)
    assert not _alarms(findings) & {"inputs_not_normalised", "initial_loss", "flat_loss",
                                    "underfitting"}, [str(f) for f in findings]


@pytest.mark.integration
def test_softmax_output_with_from_logits_is_named(seed):
    train, val = _circles(300)
    logger = _fit(_mlp(keras.Input((2,)), (16,)), train, val,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    found = [f for f in diagnose(logger) if f.code == "output_loss_mismatch"]
    assert found and found[0].evidence["output_activation"] == "softmax"


@pytest.mark.integration
def test_validation_inside_the_training_set_is_named(seed):
    train, _ = _circles(300)
    logger = _fit(_mlp(keras.Input((2,)), (16,)), train, (train[0][:100], train[1][:100]))
    assert logger.summary["val_in_train_fraction"] == 1.0
    assert "split_overlap" in _alarms(diagnose(logger))


@pytest.mark.integration
def test_saturated_tanh_layers_are_named(seed):
    train, val = _circles(300)
    init = keras.initializers.VarianceScaling(60.0, "fan_in", "untruncated_normal")
    logger = _fit(_mlp(keras.Input((2,)), (64, 64), activation="tanh", init=init), train,
                  val)
    assert "saturated_units" in _alarms(diagnose(logger))
