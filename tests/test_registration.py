"""Saved models reload in a fresh process that imports only ``keras`` and ``keras_recipes``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_recipes
from keras_recipes import initializers, layers, optimizers, regularizers, schedules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _every_family_models():
    """(name, model) pairs that together hold every registered family of Keras objects."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, size=32)

    def net(init, reg):
        inputs = keras.Input((6,))
        h = layers.DenseBlock(8, kernel_initializer=init)(inputs)
        h = layers.Swish()(h)
        h = keras.layers.Dense(8, kernel_initializer=initializers.GlorotUniform(seed=1),
                               kernel_regularizer=reg)(h)
        h = layers.GLU(4)(h)
        h = layers.MinMaxNormalization()(h)
        outputs = keras.layers.Dense(3, activation="softmax",
                                     kernel_initializer=initializers.TorchDefault(seed=2))(h)
        return keras.Model(inputs, outputs)

    combos = {
        "yogi_onecycle": (optimizers.Yogi(schedules.OneCycle(0.01, 20)),
                          initializers.HeNormal(seed=0), regularizers.L2(0.01, 32)),
        "lookahead_warmup": (
            optimizers.Lookahead(optimizers.NesterovRMSprop(
                schedules.Warmup(schedules.InverseSqrtDecay(0.01, 5), 3))),
            initializers.HeUniform(seed=0), regularizers.L1(0.01, 32)),
        "radam_chain": (
            optimizers.RAdam(schedules.Chain([
                (5, schedules.CyclicLR(1e-3, 1e-2, 2)),
                (5, schedules.MultiStepDecay([3], values=[1e-2, 1e-3]))])),
            initializers.GlorotNormal(seed=0), None),
        "sgd_restarts": (
            keras.optimizers.SGD(schedules.WarmRestarts(
                keras.optimizers.schedules.CosineDecay(0.01, 4), t_mult=2.0, period=4)),
            initializers.HeNormal(seed=3), regularizers.L2(0.001, 10)),
    }
    for name, (opt, init, reg) in combos.items():
        model = net(init, reg)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        yield name, model, x


LOADER = textwrap.dedent("""
    import json, sys
    {imports}
    import numpy as np
    out = {{}}
    for name, path in json.loads(sys.argv[1]).items():
        model = keras.saving.load_model(path)
        x = np.load(path + ".x.npy")
        out[name] = {{"pred": np.asarray(model.predict(x, verbose=0)).tolist(),
                     "optimizer": type(model.optimizer).__name__,
                     "iterations": int(model.optimizer.iterations.numpy()
                                       if hasattr(model.optimizer.iterations, "numpy")
                                       else model.optimizer.iterations)}}
    print(json.dumps(out))
""")


def _load_in_fresh_process(paths, imports):
    env = dict(os.environ, PYTHONPATH=ROOT)
    code = LOADER.format(imports=imports)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.integration  # fresh processes; the same on both backends, run on TF by make test
@pytest.mark.parametrize("imports", ["import keras, keras_recipes",
                                     "import keras_recipes\nimport keras"])
def test_every_family_reloads_with_only_import_keras_recipes(tmp_path, imports):
    paths, expected = {}, {}
    for name, model, x in _every_family_models():
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        np.save(path + ".x.npy", x)
        paths[name] = path
        expected[name] = (np.asarray(model.predict(x, verbose=0)), type(model.optimizer).__name__,
                          int(keras.ops.convert_to_numpy(model.optimizer.iterations)))
    loaded = _load_in_fresh_process(paths, imports)
    for name, (pred, opt_name, iterations) in expected.items():
        np.testing.assert_allclose(np.asarray(loaded[name]["pred"]), pred, atol=1e-6)
        assert loaded[name]["optimizer"] == opt_name
        assert loaded[name]["iterations"] == iterations == 2


@pytest.mark.slow
def test_plain_keras_without_keras_recipes_cannot_resolve_the_names(tmp_path):
    # The counterpart: what the registration buys. Without importing keras_recipes, Keras
    # cannot locate the classes.
    name, model, x = next(_every_family_models())
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = f"import keras\nkeras.saving.load_model({path!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode != 0
    assert "keras_recipes>" in proc.stderr or "Could not locate" in proc.stderr


def test_register_keras_objects_lists_every_family():
    names = keras_recipes.register_keras_objects()
    for expected in ("keras_recipes>OneCycle", "keras_recipes>Yogi", "keras_recipes>Lookahead",
                     "keras_recipes>HeNormal", "keras_recipes>Swish", "keras_recipes>L2",
                     "keras_recipes>EarlyStopping"):
        assert expected in names
    assert names == sorted(names)


def test_load_model_is_keras_load_model_after_registration(tmp_path):
    _, model, x = next(_every_family_models())
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras_recipes.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_import_keras_recipes_does_not_import_keras():
    code = "import sys, keras_recipes; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.stdout.split() == ["False", "False"], proc.stderr
