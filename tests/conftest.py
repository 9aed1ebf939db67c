"""Fixtures shared by the whole suite: seeds, tiny data sets and round-trip helpers.

Use ``KERAS_BACKEND=jax`` to run the suite on JAX; tests marked ``tf_only`` are skipped there.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import helpers  # noqa: E402

BACKEND = keras.backend.backend()
ROOT = Path(__file__).resolve().parent.parent


# The `backend` marker: tests whose result depends on the Keras backend (compiled train
# steps, optimizer/schedule/initializer numerics, probe and logger numerics, saving and
# loading, distribution, restoring a model's state). `make test` runs the whole suite on
# TensorFlow and only these on the other backends. Tests of callbacks driven by a fake model,
# CSV parsing, splits, argument checks, plots, reports, CLI parsing and pure-NumPy rules give
# the same result on every backend and carry no mark.
#
# Marks belong in the test files: a module-level `pytestmark = pytest.mark.backend`, or
# `@pytest.mark.backend` on the tests of a mixed module. The files below are marked here by
# path instead, for files whose owners are still changing them; move an entry into its file
# (and delete it here) when the file is next edited. Each entry: a glob of paths relative to
# the repository root, and "*" (every test of the file), a tuple of test-name globs (those
# tests), or () (the table adds no mark: the file is backend-neutral, or marks its own
# tests; listed so that the decision is written down).
BACKEND_BY_PATH: dict[str, str | tuple[str, ...]] = {
    # initializer statistics and seeded draws come from each backend's random generators;
    # saved models reload
    "tests/initializers/*.py": "*",
    # structure and argument tests are neutral; training, the untrained loss and .keras round
    # trips are not
    "tests/test_models.py": ("test_mlp_learns_digits", "test_save_and_reload",
                             "test_untrained_loss_is_ln_c", "test_default_structure_is_unchanged",
                             "test_structure_options_round_trip"),
    # the fake-model decisions are neutral; real fits restore weights through the backend
    "tests/callbacks/test_early_stopping.py": (
        "test_nan_on_first_epoch_restores_weights_from_before_fit",
        "test_fit_on_digits_restores_best_epoch", "test_fit_divergence_stops_with_finite_weights"),
    "tests/callbacks/test_early_stopping_keras.py": ("test_keras_*",),  # Keras's fit scenarios
    # scheduled hyperparameters are variables read by the compiled step
    "tests/callbacks/test_hyperparameter_scheduler*.py": "*",
    # the watchdog's probe numerics are marked test by test in the files
    "tests/callbacks/test_watchdog*.py": (),
    "tests/distributed/test_watchdog*.py": (),
    "tests/tuning/test_watchdog*.py": (),
    "tests/test_registration.py": (),  # marked in the file (reload of every class)
    "tests/test_private_keras.py": "*",  # marked in the file: Keras internals per backend
    "tests/test_state.py": "*",  # marked in the file: capture and restore of training state
    # orchestration, command-line parsing and files: the same on every backend
    "tests/test_cli*.py": (),
    "tests/workflows/test_steamroller.py": (),
    "tests/workflows/test_steamroller_resume_fixture.py": (),  # marked in the file
    "tests/workflows/test_stage_as_data.py": (),
    "tests/workflows/test_repair.py": (),
    "tests/workflows/test_run_folder*.py": (),
    "tests/workflows/test_practical*.py": (),
    "tests/data/test_splits*.py": (),
    "tests/analysis/test_cross_validate*.py": (),
}


def _backend_by_path(item) -> bool:
    path = Path(str(item.path)).resolve()
    try:
        relative = path.relative_to(ROOT).as_posix()
    except ValueError:
        return False
    name = getattr(item, "originalname", item.name)
    for pattern, tests in BACKEND_BY_PATH.items():
        if fnmatch.fnmatch(relative, pattern):
            if tests == "*":
                return True
            return any(fnmatch.fnmatch(name, test) for test in tests)
    return False


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs the TensorFlow backend")
    for item in items:
        if _backend_by_path(item):
            item.add_marker(pytest.mark.backend)
        if BACKEND != "tensorflow" and "tf_only" in item.keywords:
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
