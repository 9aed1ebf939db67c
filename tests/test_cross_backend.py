"""A `.keras` file saved on each backend loads on the other two with equal predictions.

Three fresh processes, one per backend (TensorFlow, JAX, torch), each with only
``import keras_recipes``: each builds and trains a model made of the library's layers,
initialiser, regulariser, optimizer and schedule, saves it with its predictions on a fixed
batch, then loads the files of the two other backends and predicts the same batch. The
predictions must agree to ``atol=1e-5, rtol=1e-4`` (float32 arithmetic in a different order
on each backend's kernels; the weights themselves are stored exactly). The optimizer state
travels too: the loaded model's optimizer has the saver's iteration count.

A backend that is not installed is skipped, so the test also runs where torch is absent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

BACKENDS = [b for b, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
            if importlib.util.find_spec(module) is not None]
ROOT = Path(__file__).resolve().parent.parent
ATOL, RTOL = 1e-5, 1e-4

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import numpy as np
    import keras
    import keras_recipes  # registers every class: nothing else is imported for loading
    from keras_recipes import initializers, layers, optimizers, regularizers, schedules

    me, folder, others = sys.argv[1], Path(sys.argv[2]), sys.argv[3].split(",")
    assert keras.backend.backend() == me
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    model = keras.Sequential([
        keras.Input((6,)),
        layers.MinMaxNormalization(),
        layers.DenseBlock(8),
        layers.SwiGLU(8),
        keras.layers.Dense(2, kernel_initializer=initializers.TorchDefault(),
                           kernel_regularizer=regularizers.L2(1e-3)),
        layers.Swish(),
    ])
    model.layers[0].adapt(x)
    schedule = schedules.OneCycle(max_lr=0.01, total_steps=8)
    model.compile(optimizers.Yogi(schedule), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.save(folder / f"{me}.keras")
    np.save(folder / f"{me}.npy", model.predict(x[:16], verbose=0))
    (folder / f"{me}.done").write_text("1")

    result = {}
    deadline = time.monotonic() + 240
    for other in others:
        while not (folder / f"{other}.done").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"{other} wrote no model")
            time.sleep(0.2)
        loaded = keras.saving.load_model(folder / f"{other}.keras")
        got = np.asarray(loaded.predict(x[:16], verbose=0), dtype="float64")
        want = np.load(folder / f"{other}.npy").astype("float64")
        result[other] = {"max_abs_diff": float(np.max(np.abs(got - want))),
                         "close": bool(np.allclose(got, want, atol=%(atol)r, rtol=%(rtol)r)),
                         "optimizer": type(loaded.optimizer).__name__,
                         "iterations": int(keras.ops.convert_to_numpy(
                             loaded.optimizer.iterations.value))}
    (folder / f"{me}.json").write_text(json.dumps(result))
""") % {"atol": ATOL, "rtol": RTOL}


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs two installed Keras backends")
def test_a_file_saved_on_each_backend_loads_on_the_others(tmp_path):
    script = tmp_path / "roundtrip.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    processes = {}
    for backend in BACKENDS:
        others = ",".join(b for b in BACKENDS if b != backend)
        processes[backend] = subprocess.Popen(
            [sys.executable, str(script), backend, str(tmp_path), others],
            env={**env, "KERAS_BACKEND": backend}, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {b: p.communicate(timeout=300)[0] for b, p in processes.items()}
    for backend, process in processes.items():
        assert process.returncode == 0, f"{backend}:\n{outputs[backend][-3000:]}"
    for loader in BACKENDS:
        result = json.loads((tmp_path / f"{loader}.json").read_text())
        assert set(result) == set(BACKENDS) - {loader}
        for saver, facts in result.items():
            assert facts["close"], (saver, loader, facts)
            assert facts["optimizer"] == "Yogi"
            assert facts["iterations"] == 8  # 2 epochs x 4 batches, saved with the model
    # The predictions of the three trainings differ (each backend draws its own initial
    # weights): the agreement above is the loaded file's, not a coincidence of training.
    first, *rest = (np.load(tmp_path / f"{b}.npy") for b in BACKENDS)
    assert any(not np.allclose(first, other, atol=1e-3) for other in rest)
