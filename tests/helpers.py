"""Shared test helpers: serialization round trips and small comparisons."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np


def _normalise(config):
    """JSON round trip so tuples/lists and numpy scalars compare equal."""
    return json.loads(json.dumps(config, default=lambda o: np.asarray(o).tolist()))


def assert_config_roundtrip(obj, custom_objects=None):
    """get_config → from_config → get_config is identical, and Keras (de)serializes it.

    Returns the rebuilt object.
    """
    config = obj.get_config()
    rebuilt = type(obj).from_config(config)
    assert _normalise(rebuilt.get_config()) == _normalise(config)
    serialized = keras.saving.serialize_keras_object(obj)
    again = keras.saving.deserialize_keras_object(serialized, custom_objects=custom_objects)
    assert type(again) is type(obj)
    assert _normalise(again.get_config()) == _normalise(config)
    return rebuilt


def assert_model_roundtrip(model, x, tmp_path, *, atol=1e-6, name="model.keras"):
    """``model.save(.keras)`` then ``keras.saving.load_model``; predictions are unchanged.

    Returns the reloaded model.
    """
    path = os.path.join(str(tmp_path), name)
    before = np.asarray(model.predict(x, verbose=0))
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = np.asarray(loaded.predict(x, verbose=0))
    np.testing.assert_allclose(after, before, atol=atol, rtol=1e-6)
    return loaded


def drawn_past_the_edge(fig) -> bool:
    """Whether anything drawn on ``fig`` (titles, labels, ticks, legends, notes) is cut off
    when the figure is saved as it is (without ``bbox_inches="tight"``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn, page = fig.get_tightbbox(canvas.get_renderer()), fig.bbox_inches
    eps = 0.01  # inches
    return (drawn.x0 < page.x0 - eps or drawn.y0 < page.y0 - eps
            or drawn.x1 > page.x1 + eps or drawn.y1 > page.y1 + eps)


def cli(cwd, *argv: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m keras_recipes.cli *argv`` in ``cwd`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "keras_recipes.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one stderr line of a refused command (TensorFlow's start-up chatter aside)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("keras-recipes:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def small_net(input_shape, num_classes, width: int = 32) -> keras.Model:
    """Flatten → Dense(width, relu) → Dense(num_classes, softmax): a workflow's tiny model."""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
