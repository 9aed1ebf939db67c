"""The steamroller end to end on the JAX and torch backends.

``tests/workflows/test_steamroller.py`` runs the workflow on TensorFlow (the `make test` lane
that runs every test). Here the same tiny run goes through the other backends' compiled steps,
range test, logger probe and `.keras` files: three stages, a rerun that resumes every stage
from its saved model, and a test accuracy equal to an independent evaluation of the reloaded
stage-3 model.
"""

import keras
import numpy as np
import pytest

from keras_recipes.data import load_dataset, split
from keras_recipes.workflows import steamroller
from tests.workflows.test_steamroller import TINY

pytestmark = [
    pytest.mark.backend,
    pytest.mark.skipif(keras.backend.backend() == "tensorflow",
                       reason="tests/workflows/test_steamroller.py covers TensorFlow"),
    # JAX compiles every stage's steps (about 45 s here): `make test` runs it on torch, whose
    # steamroller has no other test there, and `make test-all` on JAX too.
    *([pytest.mark.slow_elsewhere] if keras.backend.backend() == "jax" else []),
]


def test_steamroller_runs_resumes_and_reloads(tmp_path):
    out = tmp_path / "run"
    keras.utils.set_random_seed(0)
    report = steamroller("digits", "mlp", out=out, **TINY)
    assert report.passed and [s.stage for s in report.stages] == [1, 2, 3]
    assert [s.resumed for s in report.stages] == [False, False, False]

    ds = load_dataset("digits")
    _, _, (x_test, y_test) = split(ds.x, ds.y, seed=0)
    model = keras.saving.load_model(out / "stage3" / "model.keras")
    predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
    assert report.test_accuracy == pytest.approx(float(np.mean(predicted == y_test)), abs=1e-6)

    again = steamroller("digits", "mlp", out=out, **TINY)
    assert [s.resumed for s in again.stages] == [True, True, True]
    assert again.test_accuracy == report.test_accuracy
