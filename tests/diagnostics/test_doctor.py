"""The training doctor: each rule on a training built to trigger it, or on synthetic logs."""

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

LN10 = math.log(10)


def _codes(findings, severities=("error", "warning")):
    return {f.code for f in findings if f.severity in severities}


def _mlp(hidden=(16,), activation="relu", kernel="glorot_uniform", bias="zeros"):
    layers = [keras.Input((64,))]
    for i, width in enumerate(hidden):
        layers.append(keras.layers.Dense(width, activation=activation, name=f"h{i}",
                                         kernel_initializer=kernel, bias_initializer=bias))
    layers.append(keras.layers.Dense(10, activation="softmax", name="head"))
    return keras.Sequential(layers)


def _train(model, x, y, *, lr=1e-2, epochs=2, optimizer="adam", batch_size=32, **kw):
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer](lr)
    model.compile(opt, "sparse_categorical_crossentropy")
    logger = DiagnosticLogger(data=(x, y), probe_size=64, **kw)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[logger])
    return logger


# ------------------------------------------------------------------ rules on real trainings
@pytest.mark.backend
def test_nonfinite_loss_on_a_diverging_regression(tiny_regression, seed):
    x, y = tiny_regression
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(50.0), "mse")
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), activations=False)
    model.fit(x * 100, y, epochs=3, batch_size=16, verbose=0, callbacks=[logger])
    findings = diagnose(logger)
    assert findings[0].code == "nonfinite_loss" and findings[0].severity == "error"
    f = logger.frame
    assert f[(f.stat == "non_finite") & (f.epoch == 3)].value.iloc[0] == 1.0


@pytest.mark.integration
def test_lr_10_explodes_and_moves_weights_too_far(tiny_digits, seed):
    x, y = tiny_digits
    findings = diagnose(_train(_mlp(), x, y, lr=10.0, epochs=3, activations=False))
    codes = _codes(findings)
    assert "update_ratio_high" in codes
    assert codes & {"exploding_loss", "nonfinite_loss"}


@pytest.mark.integration
def test_unnormalised_inputs_and_initial_loss(tiny_digits, seed):
    x, y = tiny_digits
    logger = _train(_mlp(), x * 255, y, epochs=1, gradients=False)
    assert logger.summary["initial_loss"] > 1.5 * LN10
    codes = _codes(diagnose(logger))
    assert {"inputs_not_normalised", "initial_loss"} <= codes


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_raw_inputs_are_fine_when_the_model_normalises_them(tiny_digits, seed):
    x, y = tiny_digits
    raw = x * 255
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Normalization(mean=raw.mean(0),
                                                         variance=raw.var(0) + 1.0),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    logger = _train(model, raw, y, epochs=1, gradients=False)
    assert logger.summary["inputs_normalised"] is False  # the data themselves are raw...
    assert logger.summary["normalisation_layer"] == model.layers[0].name
    assert "inputs_not_normalised" not in _codes(diagnose(logger))  # ...and that is fine


@pytest.mark.integration
def test_tiny_lr_gives_flat_loss_and_low_update_ratio(tiny_digits, seed):
    x, y = tiny_digits
    findings = diagnose(_train(_mlp(), x, y, lr=1e-7, epochs=2, activations=False))
    assert {"flat_loss", "update_ratio_low"} <= _codes(findings)


@pytest.mark.slow_elsewhere
@pytest.mark.backend
def test_dead_relu_layer(tiny_digits, seed):
    x, y = tiny_digits
    logger = _train(_mlp(bias=keras.initializers.Constant(-10.0)), x, y, epochs=1,
                    gradients=False)
    findings = [f for f in diagnose(logger) if f.code == "dead_units"]
    assert findings and findings[0].evidence["dead_fraction"]["h0"] == 1.0


@pytest.mark.integration
def test_constant_init_leaves_units_symmetric(tiny_digits, seed):
    x, y = tiny_digits
    logger = _train(_mlp(hidden=(16, 16), kernel=keras.initializers.Constant(0.05)), x, y,
                    epochs=1, gradients=False)
    findings = [f for f in diagnose(logger) if f.code == "symmetric_units"]
    assert findings and {"h0", "h1"} <= set(findings[0].evidence["layers"])


@pytest.mark.integration
def test_deep_sigmoid_net_has_vanishing_gradients(tiny_digits, seed):
    x, y = tiny_digits
    logger = _train(_mlp(hidden=(16,) * 6, activation="sigmoid"), x, y, epochs=1,
                    activations=False)
    findings = [f for f in diagnose(logger) if f.code == "vanishing_gradients"]
    assert findings and findings[0].evidence["first_layer"] == "h0"
    assert findings[0].evidence["median_grad_rms_ratio"] < 1e-2


@pytest.mark.integration
def test_class_imbalance(digits_flat, seed):
    x, y = digits_flat.x, digits_flat.y
    idx = np.concatenate([np.flatnonzero(y == 0)[:140], np.flatnonzero(y == 1)[:10],
                          np.flatnonzero(y == 2)[:50]])
    logger = _train(_mlp(), x[idx], y[idx], epochs=1, activations=False, gradients=False)
    assert logger.summary["imbalance_ratio"] == 14.0
    assert "class_imbalance" in _codes(diagnose(logger))


@pytest.mark.slow
def test_healthy_run_has_no_warning(digits, seed):
    from keras_recipes.data import split
    from keras_recipes.models import baseline_mlp

    (xt, yt), (xv, yv), _ = split(digits.x, digits.y, seed=0)
    model = baseline_mlp(digits.input_shape, 10)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    logger = DiagnosticLogger(data=(xt, yt), validation_data=(xv, yv))
    model.fit(xt, yt, validation_data=(xv, yv), epochs=15, verbose=0, callbacks=[logger])
    assert _codes(diagnose(logger)) == set()


@pytest.mark.slow
def test_shuffled_labels_are_at_chance(digits_flat, seed):
    x, y = digits_flat.x[:600], np.random.default_rng(0).permutation(digits_flat.y[:600])
    model = _mlp(hidden=(32,))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    logger = DiagnosticLogger(data=(x[:400], y[:400]), validation_data=(x[400:], y[400:]))
    model.fit(x[:400], y[:400], validation_data=(x[400:], y[400:]), epochs=10, verbose=0,
              callbacks=[logger])
    assert "chance_level" in _codes(diagnose(logger))


# The rules below are also tested on synthetic logs; here each fires on a real ``fit``.
def _fit_few(digits_flat, size, hidden, epochs, metrics=None):
    """Adam(1e-2) on the first ``size`` digits, validated on 300 others; (history, logger)."""
    x, y = digits_flat.x[:size], digits_flat.y[:size]
    xv, yv = digits_flat.x[1000:1300], digits_flat.y[1000:1300]
    model = _mlp(hidden=hidden)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=metrics)
    logger = DiagnosticLogger(data=(x, y), validation_data=(xv, yv), activations=False,
                              gradients=False, updates=False)
    history = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=10,
                        verbose=0, callbacks=[logger])
    return history, logger


def _found(findings, code):
    return [f for f in findings if f.code == code]


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_overfitting_on_a_tiny_training_set(digits_flat, seed):
    # A 256×256 MLP memorises 30 examples: train loss → 0 while val loss turns up.
    history, logger = _fit_few(digits_flat, 30, hidden=(256, 256), epochs=20)
    found = _found(diagnose(logger), "overfitting")
    assert found, history.history
    # Independent reading of the curves: val loss ends > 10 % above its minimum, which came
    # before the last epoch, while the train loss is lower than it was then.
    loss, val = np.array(history.history["loss"]), np.array(history.history["val_loss"])
    best = int(np.argmin(val))
    assert found[0].evidence["best_epoch"] == best + 1 < 20
    assert val[-1] > 1.1 * val[best] and loss[-1] < loss[best]


@pytest.mark.integration
def test_generalization_gap_on_a_tiny_training_set(digits_flat, seed):
    # 20 training examples: the MLP fits them all, but reaches far less on held-out digits.
    history, logger = _fit_few(digits_flat, 20, hidden=(128,), epochs=10,
                               metrics=["accuracy"])
    found = _found(diagnose(logger), "generalization_gap")
    assert found, history.history
    gap = history.history["accuracy"][-1] - history.history["val_accuracy"][-1]
    assert found[0].evidence["gap"] == pytest.approx(gap) and gap > 0.1


@pytest.mark.integration
def test_oscillating_loss_with_sgd_at_a_large_rate(tiny_digits, seed):
    # Full-batch gradient descent at rate 2, above 2 / (largest Hessian eigenvalue): each
    # step overshoots, so the loss goes down and back up from epoch to epoch (one step per
    # epoch), yet it stays finite (Cohen et al., 2021, "edge of stability").
    x, y = tiny_digits
    logger = _train(_mlp(hidden=(64,)), x, y, lr=2.0, epochs=20, optimizer="sgd",
                    batch_size=len(x), activations=False, gradients=False, updates=False)
    found = _found(diagnose(logger), "oscillating_loss")
    assert found
    loss = logger.frame.query("layer == 'model' and stat == 'loss' and epoch >= 1").value
    rises = int(np.sum(np.diff(loss.to_numpy()) / loss.to_numpy()[:-1] > 0.02))
    assert np.all(np.isfinite(loss)) and found[0].evidence["rises"] == rises >= 2


@pytest.mark.integration
def test_deep_tanh_net_with_large_init_has_exploding_gradients(tiny_digits, seed):
    # Weights of variance 256 / fan_in put tanh in the chaotic phase: activations stay in
    # [-1, 1] while each layer multiplies the backward signal (Poole et al., 2016).
    x, y = tiny_digits
    init = keras.initializers.VarianceScaling(256.0, "fan_in", "untruncated_normal")
    logger = _train(_mlp(hidden=(32,) * 10, activation="tanh", kernel=init), x, y, lr=1e-3,
                    epochs=1, optimizer="sgd", activations=False, updates=False)
    found = _found(diagnose(logger), "exploding_gradients")
    assert found and found[0].evidence["first_layer"] == "h0"
    assert found[0].evidence["last_layer"] == "head"
    f = logger.frame
    rms = f[f.stat == "grad_rms"].pivot(index="epoch", columns="layer", values="value")
    assert (rms["h0"] / rms["head"]).median() > 1e2


@pytest.mark.integration
def test_large_learning_rate_gives_high_update_ratio(tiny_digits, seed):
    # Adam moves each weight by ~lr per step: 0.1 against Glorot weights of rms ~0.16.
    x, y = tiny_digits
    logger = _train(_mlp(), x, y, lr=0.1, epochs=1, activations=False, gradients=False)
    found = _found(diagnose(logger), "update_ratio_high")
    assert found and found[0].evidence["max_ratio_per_step"]["h0"] > 0.1
    # The same model at Adam's default rate stays in the band.
    keras.utils.set_random_seed(0)
    calm = _train(_mlp(), x, y, lr=1e-3, epochs=1, activations=False, gradients=False)
    assert not _found(diagnose(calm), "update_ratio_high")


@pytest.mark.integration
def test_underfitting_after_two_short_epochs(digits_flat, seed):
    # Two epochs at a small rate: the loss is still near ln C and still falling.
    x, y = digits_flat.x[:600], digits_flat.y[:600]
    logger = _train(_mlp(), x, y, lr=3e-4, epochs=2, activations=False, gradients=False,
                    updates=False)
    found = _found(diagnose(logger), "underfitting")
    assert found
    loss = logger.frame.query("layer == 'model' and stat == 'loss' and epoch >= 1")
    first, last = loss.sort_values("epoch").value.to_numpy()
    assert last > 0.1 * LN10 and (first - last) / first > 0.01

# --------------------------------------------------------------- rules on synthetic logs
def _logs(loss, val=None, acc=None, val_acc=None):
    logs = {"loss": list(loss)}
    if val is not None:
        logs["val_loss"] = list(val)
    if acc is not None:
        logs["accuracy"] = list(acc)
    if val_acc is not None:
        logs["val_accuracy"] = list(val_acc)
    return logs


HEALTHY = _logs([1.8, 0.8, 0.5, 0.35, 0.27, 0.22, 0.19, 0.17, 0.16, 0.155],
                [1.7, 0.9, 0.6, 0.45, 0.38, 0.34, 0.32, 0.31, 0.305, 0.303],
                [0.5, 0.8, 0.88, 0.91, 0.93, 0.94, 0.95, 0.955, 0.958, 0.96],
                [0.55, 0.78, 0.85, 0.88, 0.9, 0.91, 0.915, 0.918, 0.92, 0.92])


def test_healthy_synthetic_curves_have_no_warning():
    assert _codes(diagnose(HEALTHY)) == set()


def test_overfitting_on_curves():
    logs = _logs([2.0, 1.0, 0.6, 0.4, 0.25, 0.15, 0.1], [2.0, 1.1, 0.8, 0.75, 0.8, 0.9, 1.0])
    found = [f for f in diagnose(logs) if f.code == "overfitting"]
    assert found and found[0].evidence["best_epoch"] == 4
    assert "EarlyStopping" in found[0].advice


def test_underfitting_when_high_and_still_falling():
    record = RunRecord({"loss": np.array([2.2, 1.9, 1.7]), "val_loss": np.array([2.2, 2.0, 1.8])},
                       pd.DataFrame(), {"expected_initial_loss": LN10})
    found = curve_rules.underfitting(record)
    assert found and "longer" in found[0].advice
    # low final loss: no finding
    record.curves["loss"] = np.array([2.0, 0.5, 0.2])
    record.curves["val_loss"] = np.array([2.0, 0.5, 0.2])
    assert curve_rules.underfitting(record) == []


def test_generalization_gap_by_accuracy_and_by_loss():
    logs = _logs([1.0, 0.5], [1.0, 0.9], acc=[0.7, 0.99], val_acc=[0.6, 0.8])
    assert "generalization_gap" in _codes(diagnose(logs))
    record = RunRecord({"loss": np.array([1.0, 0.1]), "val_loss": np.array([1.5, 1.5])},
                       pd.DataFrame(), {"expected_initial_loss": LN10})
    gap = curve_rules.generalization_gap(record)
    assert gap and gap[0].evidence["gap"] == pytest.approx(1.4)


def test_oscillating_loss():
    logs = _logs([2.0, 1.5, 1.7, 1.2, 1.4, 1.0, 1.3, 0.9])
    found = [f for f in diagnose(logs) if f.code == "oscillating_loss"]
    assert found and found[0].evidence["rises"] == 3


def test_exploding_loss_variants():
    spike = RunRecord({"loss": np.array([2.5, 60.0, 3.0])}, pd.DataFrame(),
                      {"expected_initial_loss": LN10})
    assert curve_rules.nonfinite_or_exploding(spike)[0].code == "exploding_loss"
    worse = RunRecord({"loss": np.array([2.4, 2.6, 2.9])}, pd.DataFrame(),
                      {"expected_initial_loss": LN10})
    assert curve_rules.nonfinite_or_exploding(worse)[0].severity == "error"
    # A flat run at ln 2 whose last epoch ends 0.0003 above its first is not "worse":
    # 0.6934 < 1.05 × max(ln 2, 0.6932) = 0.7279.
    flat = RunRecord({"loss": np.array([0.6932, 0.6931, 0.6934])}, pd.DataFrame(),
                     {"expected_initial_loss": np.log(2)})
    assert curve_rules.nonfinite_or_exploding(flat) == []
    rebound = _logs([1.0, 0.2, 0.25, 1.2])
    assert "exploding_loss" in _codes(diagnose(rebound))
    nan = _logs([1.0, float("nan")])
    assert diagnose(nan)[0].evidence == {"metric": "loss", "first_bad_epoch": 2}


def test_initial_loss_rule_compares_with_ln_c():
    base = {"loss": np.array([1.0])}
    far = RunRecord(base, pd.DataFrame(), {"initial_loss": 9.0, "expected_initial_loss": LN10})
    near = RunRecord(base, pd.DataFrame(), {"initial_loss": 2.4, "expected_initial_loss": LN10})
    assert curve_rules.initial_loss(far)[0].evidence["expected"] == pytest.approx(LN10)
    assert curve_rules.initial_loss(near) == []


def test_flat_loss_from_history_alone():
    assert "flat_loss" in _codes(diagnose(_logs([2.30, 2.29, 2.29])))


def test_chance_level_needs_the_number_of_classes():
    record = RunRecord({"loss": np.array([2.3, 2.3]), "accuracy": np.array([0.1, 0.11]),
                        "val_accuracy": np.array([0.1, 0.09])}, pd.DataFrame(),
                       {"task": "classification", "num_outputs": 10})
    assert curve_rules.chance_level(record)[0].evidence["chance"] == pytest.approx(0.1)
    record.summary.clear()
    assert curve_rules.chance_level(record) == []


def test_still_improving_is_a_note():
    found = diagnose(_logs([1.0, 0.5, 0.3, 0.2], [1.0, 0.6, 0.4, 0.3]))
    assert [(f.code, f.severity) for f in found if f.code == "still_improving"] == [
        ("still_improving", "info")]


def _tidy(rows):
    return pd.DataFrame([(e, "model", "loss", 1.0 / e) for e in (1, 2, 3)] + rows,
                        columns=["epoch", "layer", "stat", "value"])


def test_exploding_gradients_across_depth():
    rows = [(e, layer, "grad_rms", v) for e in (0, 1)
            for layer, v in (("first", 50.0), ("mid", 1.0), ("last", 0.1))]
    found = probe_rules.gradient_depth(RunRecord({}, _tidy(rows), {}))
    assert found[0].code == "exploding_gradients"
    assert found[0].evidence["median_grad_rms_ratio"] == pytest.approx(500.0)


def test_update_ratio_band():
    rows = [(e, "d", "update_ratio_per_step", 1e-3) for e in (1, 2, 3)]
    assert diagnose(_tidy(rows), rules=["update_ratio"]) == []
    rows[0] = (1, "d", "update_ratio_per_step", 0.5)
    assert _codes(diagnose(_tidy(rows), rules=["update_ratio"])) == {"update_ratio_high"}


def test_sources_history_dict_frames_and_csv(tmp_path):
    class FakeHistory:
        history = HEALTHY

    wide = pd.DataFrame(HEALTHY)
    assert diagnose(FakeHistory()) == diagnose(HEALTHY) == diagnose(wide)
    tidy = _tidy([(0, "model", "probe_loss", 9.0)])
    path = tmp_path / "diagnostics.csv"
    tidy.to_csv(path, index=False)
    record_codes = {f.code for f in diagnose(pd.read_csv(path))}
    assert record_codes == {f.code for f in diagnose(tidy)}


def test_bad_sources_and_rules():
    with pytest.raises(ValueError, match="Argument `history_or_logger` must be a keras History"):
        diagnose(42)
    with pytest.raises(ValueError, match="must hold a per-epoch `loss`"):
        diagnose({"accuracy": [0.5]})
    with pytest.raises(ValueError, match="Argument `rules` must name rules"):
        diagnose(HEALTHY, rules=["nope"])
    for bad in ("overfitting", 3, [1]):
        with pytest.raises(ValueError, match="Argument `rules` must be a list of rule names"):
            diagnose(HEALTHY, rules=bad)


@pytest.mark.slow  # the rule on synthetic records: test_update_ratio_low_only_without_an_overshoot
def test_collapse_to_dead_units_reports_the_overshoot_not_a_low_rate(digits_flat, seed):
    # SGD at 100: the first epoch's steps push at least half the hidden ReLU units below
    # zero on every example and saturate the softmax; later updates are exactly 0. Only
    # the overshoot is reported, with the stall as its evidence.
    x, y = digits_flat.x[:300], digits_flat.y[:300]
    logger = _train(_mlp(), x, y, lr=100.0, epochs=4, optimizer="sgd", gradients=False)
    f = logger.frame
    dead = f[(f.layer == "h0") & (f.stat == "act_dead_fraction")].set_index("epoch").value
    assert dead[0] < 0.5 <= dead[4]
    ratios = f[f.stat == "update_ratio_per_step"].pivot(index="epoch", columns="layer",
                                                        values="value")
    # Both conditions hold: a record above 1e-1 and early medians below 1e-4 everywhere.
    assert ratios.max().max() > 0.1 and (ratios.iloc[:3].median() < 1e-4).all()
    findings = diagnose(logger)
    codes = _codes(findings)
    assert "update_ratio_high" in codes and "update_ratio_low" not in codes
    high = _found(findings, "update_ratio_high")[0]
    assert high.evidence["first_epoch_above"] == 1
    assert high.evidence["stalled_after"]["h0"] < 1e-4
    assert "dead" in high.message


def test_update_ratio_low_only_without_an_overshoot():
    stall = [(e, layer, "update_ratio_per_step", 1e-6) for e in (1, 2, 3)
             for layer in ("a", "b")]
    assert _codes(diagnose(_tidy(stall), rules=["update_ratio"])) == {"update_ratio_low"}
    stall[0] = (1, "a", "update_ratio_per_step", 5.0)
    found = diagnose(_tidy(stall), rules=["update_ratio"])
    assert [f.code for f in found] == ["update_ratio_high"]
    assert found[0].evidence["stalled_after"] == {"a": 1e-6, "b": 1e-6}
