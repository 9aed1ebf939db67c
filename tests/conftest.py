"""Fixtures shared by the whole suite: seeds, tiny data sets and round-trip helpers.

Use ``KERAS_BACKEND=jax`` to run the suite on JAX; tests marked ``tf_only`` are skipped there.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import helpers  # noqa: E402

BACKEND = keras.backend.backend()


def pytest_collection_modifyitems(config, items):
    if BACKEND != "tensorflow":
        skip = pytest.mark.skip(reason="needs the TensorFlow backend")
        for item in items:
            if "tf_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def seed():
    """Seed Python, NumPy and the Keras backend; returns the seed (0)."""
    keras.utils.set_random_seed(0)
    return 0


@pytest.fixture(scope="session")
def digits():
    """The full digits Dataset (1797 × 8×8×1, 10 classes)."""
    from keras_recipes.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_flat():
    """Digits flattened to 64 features."""
    from keras_recipes.data import load_dataset

    return load_dataset("digits", flatten=True)


@pytest.fixture
def tiny_digits(digits_flat):
    """(x, y) with 200 flattened digits examples: fast enough for a few epochs of fit."""
    return digits_flat.x[:200], digits_flat.y[:200]


@pytest.fixture
def tiny_regression():
    """(x, y): 128 examples of a noisy linear target with 4 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    return x, y + 0.01 * rng.normal(size=y.shape).astype("float32")


@pytest.fixture
def tiny_mlp():
    """Factory: a compiled 64→16→10 softmax MLP (Adam 1e-2)."""

    def make(input_dim=64, num_classes=10, optimizer=None, metrics=("accuracy",)):
        model = keras.Sequential([
            keras.Input((input_dim,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(num_classes, activation="softmax"),
        ])
        model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-2),
                      loss="sparse_categorical_crossentropy", metrics=list(metrics))
        return model

    return make


@pytest.fixture
def config_roundtrip():
    """``config_roundtrip(obj)``: get_config/from_config/(de)serialize are identical."""
    return helpers.assert_config_roundtrip


@pytest.fixture
def model_roundtrip(tmp_path):
    """``model_roundtrip(model, x)``: save to .keras, reload, same predictions."""

    def check(model, x, **kwargs):
        return helpers.assert_model_roundtrip(model, x, tmp_path, **kwargs)

    return check
