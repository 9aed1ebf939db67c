"""Fixtures of the lr_finder tests: small models, a full-state snapshot for bit-for-bit checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest


def full_state(model) -> dict:
    """Every value the finder must restore, copied to NumPy, plus object identities."""
    optimizer = model.optimizer
    return {
        "variables": [np.array(v.numpy(), copy=True) for v in model.variables],
        "metrics": [np.array(v.numpy(), copy=True) for v in model.metrics_variables],
        "optimizer_variables": [np.array(v.numpy(), copy=True) for v in optimizer.variables],
        "optimizer_paths": [v.path for v in optimizer.variables],
        "iterations": int(optimizer.iterations.numpy()),
        "learning_rate": float(np.asarray(optimizer.learning_rate)),
        "optimizer_config": optimizer.get_config(),
        "optimizer": optimizer,
        "lr_object": optimizer._learning_rate,
        "train_function": model.train_function,
        "test_function": model.test_function,
    }


def assert_same_state(before: dict, after: dict) -> None:
    """Bit-for-bit equality of arrays, identity of objects."""
    for key in ("variables", "metrics", "optimizer_variables"):
        assert len(before[key]) == len(after[key]), key
        for a, b in zip(before[key], after[key], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=key)  # NaN == NaN, exact otherwise
            assert a.tobytes() == b.tobytes(), key
    for key in ("optimizer_paths", "iterations", "learning_rate"):
        assert before[key] == after[key], key
    assert str(before["optimizer_config"]) == str(after["optimizer_config"])
    for key in ("optimizer", "lr_object", "train_function", "test_function"):
        assert before[key] is after[key], key


@pytest.fixture
def bn_model():
    """Factory: Dense → BatchNorm → Dropout → softmax, compiled, fitted one short epoch
    so that the optimizer has moments, iterations > 0 and BN statistics have moved."""

    def make(x, y, optimizer=None, fit=True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((x.shape[1],)),
            keras.layers.Dense(16),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-2),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        if fit:
            model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0, shuffle=False)
        return model

    return make


def ce_numpy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Sparse categorical cross-entropy with Keras's clipping of probabilities (eps 1e-7)."""
    p = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    return float(np.mean(-np.log(p)))
