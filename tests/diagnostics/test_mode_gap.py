"""Training-mode vs inference-mode loss on the same examples, and its doctor rule."""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.diagnostics import DiagnosticLogger, RunRecord, diagnose, probe_rules
from keras_recipes.diagnostics.mode_gap import train_inference_gap

# `slow_elsewhere`: TensorFlow checks these claims in `make test`; JAX and torch (where only
# the random draws and the float32 rounding differ) in `make test-all`.
pytestmark = [pytest.mark.backend, pytest.mark.slow_elsewhere]


def _bn_mlp(momentum, dropout=0.0):
    layers = [keras.Input((64,)), keras.layers.Dense(32, use_bias=False, name="dense"),
              keras.layers.BatchNormalization(momentum=momentum, name="bn"),
              keras.layers.ReLU()]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax", name="head"))
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _numpy_losses(model, x, y):
    """Both modes computed by hand: BN with batch moments vs with moving moments."""
    w = model.get_layer("dense").get_weights()[0].astype("float64")
    bn = model.get_layer("bn")
    gamma, beta, m, s = (a.astype("float64") for a in bn.get_weights())
    wo, bo = (a.astype("float64") for a in model.get_layer("head").get_weights())
    h = x.astype("float64") @ w
    out = {}
    for mode, (mu, var) in {"training_mode": (h.mean(0), h.var(0)),
                            "inference_mode": (m, s)}.items():
        z = np.maximum(gamma * (h - mu) / np.sqrt(var + bn.epsilon) + beta, 0) @ wo + bo
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        out[mode] = -logp[np.arange(len(y)), y].mean()
    shift = np.mean(np.abs(h.mean(0) - m) / np.sqrt(s + bn.epsilon))
    return out, shift, np.mean((h.var(0) + bn.epsilon) / (s + bn.epsilon))


def test_losses_and_moment_gap_match_numpy_and_leave_the_state_unchanged(digits_flat, seed):
    x, y = digits_flat.x[:256], digits_flat.y[:256]
    model = _bn_mlp(0.99)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
    gap = train_inference_gap(model, x[:64], y[:64],
                              keras.losses.sparse_categorical_crossentropy)
    after = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    losses, shift, ratio = _numpy_losses(model, x[:64], y[:64])
    assert gap["loss_training_mode"] == pytest.approx(losses["training_mode"], rel=1e-4)
    assert gap["loss_inference_mode"] == pytest.approx(losses["inference_mode"], rel=1e-4)
    assert gap["batchnorm"]["bn"]["mean_shift"] == pytest.approx(shift, rel=1e-4)
    assert gap["batchnorm"]["bn"]["variance_ratio"] == pytest.approx(ratio, rel=1e-4)
    assert gap["batchnorm"]["bn"]["momentum"] == pytest.approx(0.99)
    assert gap["batchnorm_layers"] == 1 and gap["dropout_layers"] == 0


def test_calling_a_keras_3_batchnorm_in_training_mode_moves_its_statistics():
    # Why the comparison uses stateless calls: a plain model(x, training=True) outside the
    # train step updates the moving mean and variance.
    layer = keras.layers.BatchNormalization()
    x = np.random.default_rng(0).normal(5.0, 1.0, (16, 3)).astype("float32")
    layer(x, training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean),
                               0.01 * x.mean(axis=0), rtol=1e-4)


def test_few_steps_at_momentum_099_give_a_train_inference_mismatch(digits_flat, seed):
    # 600 examples, batch 64: 20 steps, so 0.99**20 = 82 % of the initial moving
    # statistics (mean 0, variance 1) remain; inference mode is far worse.
    x, y = digits_flat.x[:600], digits_flat.y[:600]
    model = _bn_mlp(0.99)
    logger = DiagnosticLogger(data=(x, y), activations=False, gradients=False)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[logger])
    found = [f for f in diagnose(logger) if f.code == "train_inference_mismatch"]
    assert found, logger.summary["train_inference"]
    ev = found[0].evidence
    assert ev["loss_inference_mode"] > 2 * ev["loss_training_mode"]
    assert ev["initial_statistics_weight"] == pytest.approx(0.99 ** 20, rel=1e-6)
    assert "BatchNormalization's moving statistics" in found[0].message
    assert "momentum" in found[0].advice and "model.evaluate" in found[0].advice
    # The same numbers come back from the CSV-shaped frame alone.
    assert [f.code for f in diagnose(logger.frame, rules=["train_inference_mismatch"])] == [
        "train_inference_mismatch"]


def test_enough_steps_at_momentum_09_give_no_mismatch(digits_flat, seed):
    x, y = digits_flat.x[:600], digits_flat.y[:600]
    model = _bn_mlp(0.9, dropout=0.2)
    logger = DiagnosticLogger(data=(x, y), activations=False, gradients=False)
    model.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[logger])
    gap = logger.summary["train_inference"]
    assert gap["loss_inference_mode"] < 2 * gap["loss_training_mode"] + 0.1 * math.log(10)
    assert "train_inference_mismatch" not in {f.code for f in diagnose(logger)}


def test_train_inference_check_can_be_turned_off(tiny_digits, tiny_mlp, seed):
    x, y = tiny_digits
    logger = DiagnosticLogger(probe=(x[:16], y[:16]), train_inference_check=False)
    tiny_mlp().fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert "train_inference" not in logger.summary
    assert "probe_loss_training_mode" not in set(logger.frame.stat)


def _record(train, infer, batchnorm=0, dropout=0):
    rows = [(1, "model", "loss", 1.0), (1, "model", "probe_loss_training_mode", train),
            (1, "model", "probe_loss_inference_mode", infer),
            (1, "model", "batchnorm_layers", batchnorm), (1, "model", "dropout_layers", dropout)]
    frame = pd.DataFrame(rows, columns=["epoch", "layer", "stat", "value"])
    return RunRecord({k: np.array([v]) for _, layer, k, v in rows if layer == "model"},
                     frame, {"expected_initial_loss": math.log(10)})


def test_rule_thresholds_and_named_causes():
    assert probe_rules.train_inference_mismatch(_record(0.1, 0.19)) == []  # < 2x
    assert probe_rules.train_inference_mismatch(_record(0.01, 0.1)) == []  # gap < 0.23
    assert probe_rules.train_inference_mismatch(_record(0.3, 0.1, dropout=1)) == []
    bn = probe_rules.train_inference_mismatch(_record(0.1, 0.8, batchnorm=1, dropout=1))
    assert "BatchNormalization" in bn[0].message and "dropout placed before" in bn[0].message
    drop = probe_rules.train_inference_mismatch(_record(0.1, 0.8, dropout=1))
    assert drop[0].message.count("dropout") >= 1 and "BatchNorm" not in drop[0].message
