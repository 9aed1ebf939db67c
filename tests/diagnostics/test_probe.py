"""Probe: gradient norms (the one backend switch), activation statistics, loss helpers."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from keras_recipes.diagnostics.probe import (
    Probe,
    expected_initial_loss,
    hidden_layers,
    is_classification_loss,
    loss_name,
)

pytestmark = pytest.mark.backend


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_gradient_norms_match_closed_form_softmax_regression(seed):
    # One Dense softmax layer: dL/dW = X^T (P - Y) / N and dL/db = mean(P - Y).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.integers(0, 3, size=16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    w = rng.normal(size=(4, 3)).astype("float32")
    b = rng.normal(size=3).astype("float32")
    model.layers[0].set_weights([w, b])

    stats = Probe(model, x, y, activations=False).measure()

    p = _softmax(x @ w + b)
    onehot = np.eye(3)[y]
    loss = -np.mean(np.log(p[np.arange(16), y]))
    gw, gb = x.T @ (p - onehot) / 16, np.mean(p - onehot, axis=0)
    norm = math.sqrt(np.sum(gw**2) + np.sum(gb**2))
    layer = stats["layers"][model.layers[0].name]
    np.testing.assert_allclose(stats["loss"], loss, rtol=1e-5)
    np.testing.assert_allclose(layer["grad_norm"], norm, rtol=1e-4)
    np.testing.assert_allclose(layer["grad_rms"], norm / math.sqrt(15), rtol=1e-4)
    np.testing.assert_allclose(layer["weight_norm"], math.sqrt(np.sum(w**2) + np.sum(b**2)),
                               rtol=1e-5)
    np.testing.assert_array_equal(stats["pred_class"], p[:5].argmax(axis=1))
    np.testing.assert_allclose(stats["pred_score"], p[:5].max(axis=1), rtol=1e-5)


def test_activation_statistics_match_numpy(seed):
    rng = np.random.default_rng(1)
    x = np.abs(rng.normal(size=(32, 3))).astype("float32")  # positive inputs
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="relu", name="hidden"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ])
    model.compile(loss="sparse_categorical_crossentropy")
    w = rng.normal(size=(3, 4)).astype("float32")
    w[:, 0] = -1.0  # unit 0 is dead for positive inputs
    b = np.zeros(4, "float32")
    model.get_layer("hidden").set_weights([w, b])
    probe = Probe(model, x, np.zeros(32, "int64"), histogram_bins=8,
                  histogram_range=(-2.0, 2.0))
    stats = probe.measure()["activations"]["hidden"]

    a = np.maximum(x @ w + b, 0.0)
    np.testing.assert_allclose(stats["mean"], a.mean(), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], a.std(), rtol=1e-4)
    np.testing.assert_allclose(stats["rms"], np.sqrt(np.mean(a**2)), rtol=1e-5)
    np.testing.assert_allclose(stats["zero_fraction"], np.mean(a == 0), rtol=1e-6)
    np.testing.assert_allclose(stats["dead_fraction"], np.mean(np.all(a == 0, axis=0)))
    assert stats["dead_fraction"] >= 0.25
    np.testing.assert_allclose(stats["unit_spread"], np.mean(a.std(axis=1)), rtol=1e-4)
    counts, _ = np.histogram(np.clip(a, -2.0, 2.0), bins=8, range=(-2.0, 2.0))
    np.testing.assert_array_equal(stats["hist"], counts)


def test_update_statistics_against_snapshot(seed):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(loss="mse")
    probe = Probe(model, np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"))
    before = [np.asarray(v) for v in model.get_layer("d").get_weights()]
    previous = probe.snapshot()
    delta = [np.full_like(v, 0.1) for v in before]
    model.get_layer("d").set_weights([v + d for v, d in zip(before, delta, strict=True)])
    stats = probe.measure(previous)["layers"]["d"]
    d = np.concatenate([x.ravel() for x in delta])
    w0 = np.concatenate([x.ravel() for x in before])
    np.testing.assert_allclose(stats["update_norm"], np.linalg.norm(d), rtol=1e-5)
    np.testing.assert_allclose(stats["update_mean"], d.mean(), rtol=1e-5)
    np.testing.assert_allclose(stats["update_var"], d.var(), atol=1e-7)
    np.testing.assert_allclose(stats["update_ratio"], np.linalg.norm(d) / np.linalg.norm(w0),
                               rtol=1e-4)
    assert "update_norm" not in probe.measure()["layers"]["d"]


def test_probe_shape_mismatch_is_a_clear_error():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="Argument `probe` must hold inputs of shape"):
        Probe(model, np.ones((4, 5), "float32"), np.zeros((4, 2), "float32"))


def test_hidden_layers_skip_passive_and_output_layers():
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4, name="h"),
        keras.layers.Dropout(0.5), keras.layers.Dense(2, name="out"),
    ])
    assert [layer.name for layer in hidden_layers(model)] == ["h"]


def test_loss_helpers():
    assert loss_name("sparse_categorical_crossentropy") == "sparse_categorical_crossentropy"
    assert loss_name(keras.losses.CategoricalCrossentropy()) == "categorical_crossentropy"
    assert loss_name(None) is None
    assert expected_initial_loss("sparse_categorical_crossentropy", 10) == pytest.approx(
        math.log(10))
    assert expected_initial_loss("binary_crossentropy", 1) == pytest.approx(math.log(2))
    assert expected_initial_loss("mean_squared_error", 1) is None
    assert is_classification_loss("categorical_hinge")
    assert not is_classification_loss("mean_squared_error")


def test_hidden_layers_default_to_nonlinearities_or_named():
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, name="pre"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="act"),
        keras.layers.Dense(4, activation="tanh", name="t"), keras.layers.Dense(2, name="out"),
    ])
    assert [layer.name for layer in hidden_layers(model)] == ["act", "t"]
    assert [layer.name for layer in hidden_layers(model, ["bn"])] == ["bn"]
    with pytest.raises(ValueError, match="Argument `activation_layers` must name hidden"):
        hidden_layers(model, ["out"])
