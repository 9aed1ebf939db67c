"""The logger never builds a model at a fixed batch size (no ``Input`` layer, subclassed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_recipes.diagnostics import DiagnosticLogger

pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()

RELOAD = """
import json, sys
import keras, numpy as np
model = keras.models.load_model(sys.argv[1])
out = {"input_shape": list(model.inputs[0].shape)}
for n in (1, 100):
    out[f"predict_{n}"] = list(model.predict(np.zeros((n, 8, 8), "float32"), verbose=0).shape)
print("RESULT " + json.dumps(out))
"""


def _getting_started_model():
    """KerasTuner's getting-started model: a Sequential with no Input layer."""
    model = keras.Sequential([
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _saved_batch_dim(path) -> object:
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    return config["build_config"]["input_shape"][0]


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.integration
def test_model_without_input_saves_a_free_batch_size_and_reloads(digits, tmp_path, seed):
    x = np.asarray(digits.x[:256], "float32").reshape(-1, 8, 8)
    y = np.asarray(digits.y[:256])
    model = _getting_started_model()
    logger = DiagnosticLogger(data=(x, y))  # a 64-example probe
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[logger])
    path = tmp_path / "model.keras"
    model.save(path)

    plain = _getting_started_model()
    keras.utils.set_random_seed(0)
    plain.fit(x, y, epochs=1, batch_size=32, verbose=0)
    plain.save(tmp_path / "plain.keras")
    if BACKEND == "tensorflow":
        # Keras builds it in the first training step, after on_train_begin: the logger
        # builds it first, with a free batch dimension.
        assert _saved_batch_dim(path) is None
    else:
        # JAX builds it from the first batch before any callback runs: Keras's own shape.
        assert _saved_batch_dim(path) == _saved_batch_dim(tmp_path / "plain.keras")
    assert _saved_batch_dim(path) != 64

    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", RELOAD, str(path)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    if BACKEND == "tensorflow":
        assert result["input_shape"] == [None, 8, 8]
    assert result["predict_1"] == [1, 10] and result["predict_100"] == [100, 10]

    # The probe measured the model from the first record on, as with an Input layer.
    frame = logger.frame
    assert set(frame[frame.stat == "grad_norm"].epoch) == {0, 1, 2}
    assert set(frame[frame.stat == "act_mean"].layer) == {model.layers[1].name}
    assert logger.summary["initial_loss"] == pytest.approx(np.log(10), rel=0.3)
    assert logger.summary["num_outputs"] == 10


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(x))


def test_unbuilt_subclassed_model_is_left_to_keras(tiny_digits, seed):
    x, y = tiny_digits
    model = Subclassed()
    model.compile("adam", "sparse_categorical_crossentropy")
    logger = DiagnosticLogger(probe=(x[:64], y[:64]), step_updates=True)
    with pytest.warns(RuntimeWarning) as caught:
        model.fit(x, y, epochs=2, batch_size=50, verbose=0, callbacks=[logger])
    notes = " ".join(str(w.message) for w in caught)
    assert "skipped" not in notes or "activation statistics skipped" in notes
    frame = logger.frame
    first = 1 if BACKEND == "tensorflow" else 0  # JAX builds it before on_train_begin
    assert set(frame[frame.stat == "grad_norm"].epoch) == set(range(first, 3))
    assert model.get_build_config()["input_shape"][0] != 64
    steps = logger.step_frame
    assert len(steps) and steps.step.max() == 8  # 4 steps per epoch, 2 epochs
