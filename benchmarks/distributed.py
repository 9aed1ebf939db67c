"""Cost of the library's callbacks under MirroredStrategy, and the finder on 1 vs 2 devices.

Two logical CPU devices (declared before TensorFlow starts its devices) and
``tf.distribute.MirroredStrategy`` over both; digits (1797 examples), an MLP
64-256-256-10, global batch 64 (32 per replica).

1. *Overhead*: per-epoch wall time of ``fit`` with ``DiagnosticLogger`` (128-example probe,
   one record per epoch, gradients and activations on) and the library's callbacks
   (``NaNGuard``, ``KeepBest``, ``EarlyStopping``, ``TimeBudget``, ``LearningRateMonitor``)
   divided by the same ``fit`` with no callback. Both fits run on the same compiled model in
   the same process, alternated, each for several epochs; an epoch's time is the gap
   between consecutive ``on_epoch_begin`` calls (so it includes every callback's epoch-end
   work and the validation pass), the first two epochs of each fit are left out
   (compilation, first probe trace). Reported: the median over repeats of each fit's
   median epoch, and their ratio (target <= 1.05), for wall time and for the process's
   CPU time (all its threads; less sensitive to other jobs on a shared machine).
2. *Finder*: ``find_lr`` (valley rule) on the same initial weights and the same global
   batch, on one device (no strategy) and on the two replicas; the ratio of the two
   suggestions (target within a factor 1.5), for three seeds.

The machine may be shared with other jobs: the load average is recorded before and after.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/distributed.py``. Writes
``benchmarks/results/distributed.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes.callbacks import (  # noqa: E402
    EarlyStopping,
    KeepBest,
    LearningRateMonitor,
    NaNGuard,
    TimeBudget,
)
from keras_recipes.data import load_dataset  # noqa: E402
from keras_recipes.diagnostics import DiagnosticLogger  # noqa: E402
from keras_recipes.lr_finder import find_lr  # noqa: E402

STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
BATCH = 64
EPOCHS = 8
REPEATS = 7
SKIP = 2


class EpochClock(keras.callbacks.Callback):
    """Wall and CPU times between consecutive epoch starts (the last one to train end)."""

    def on_train_begin(self, logs=None):
        self.starts, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def on_train_end(self, logs=None):
        self.on_epoch_begin(-1)

    def epochs(self) -> list[float]:
        return list(np.diff(self.starts))

    def cpu_epochs(self) -> list[float]:
        return list(np.diff(self.cpu))


def build(seed: int, scoped: bool):
    keras.utils.set_random_seed(seed)
    with STRATEGY.scope() if scoped else keras.name_scope("one_device"):
        model = keras.Sequential([
            keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def overhead(x, y, xv, yv) -> dict:
    model = build(0, scoped=True)
    plain, full, plain_cpu, full_cpu = [], [], [], []
    for _ in range(REPEATS):
        for kind in ("plain", "callbacks"):
            clock = EpochClock()
            callbacks = [clock]
            if kind == "callbacks":
                callbacks = [
                    DiagnosticLogger(probe=(x[:128], y[:128])), NaNGuard(), KeepBest(),
                    EarlyStopping(patience=100), TimeBudget(seconds=1e6),
                    LearningRateMonitor(), clock]
            model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, validation_data=(xv, yv),
                      verbose=0, callbacks=callbacks)
            (plain if kind == "plain" else full).append(
                statistics.median(clock.epochs()[SKIP:]))
            (plain_cpu if kind == "plain" else full_cpu).append(
                statistics.median(clock.cpu_epochs()[SKIP:]))
    p, f = statistics.median(plain), statistics.median(full)
    pc, fc = statistics.median(plain_cpu), statistics.median(full_cpu)
    return {"plain_epoch_s": p, "callbacks_epoch_s": f, "ratio": f / p,
            "plain_epoch_cpu_s": pc, "callbacks_epoch_cpu_s": fc, "cpu_ratio": fc / pc,
            "plain_epoch_s_per_repeat": plain, "callbacks_epoch_s_per_repeat": full,
            "plain_epoch_cpu_s_per_repeat": plain_cpu,
            "callbacks_epoch_cpu_s_per_repeat": full_cpu,
            "target": "<= 1.05"}


def finder(x, y) -> list[dict]:
    rows = []
    for seed in (0, 1, 2):
        suggestions = {}
        for name, scoped in (("one_device", False), ("two_replicas", True)):
            model = build(seed, scoped)
            result = find_lr(model, x, y, batch_size=BATCH, num_steps=100, seed=seed)
            suggestions[name] = float(result.suggestion)
        rows.append({"seed": seed, **suggestions,
                     "ratio": suggestions["two_replicas"] / suggestions["one_device"]})
    return rows


def main() -> None:
    ds = load_dataset("digits")
    x = np.asarray(ds.x, "float32").reshape(len(ds.x), -1)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    y = np.asarray(ds.y, "int32")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    xt, yt, xv, yv = x[:1440], y[:1440], x[1440:], y[1440:]
    load_before = os.getloadavg()
    begin = time.perf_counter()
    result = {
        "setup": "MirroredStrategy over two logical CPU devices, digits MLP 64-256-256-10, "
                 f"global batch {BATCH}",
        "replicas": STRATEGY.num_replicas_in_sync,
        "overhead": overhead(xt, yt, xv, yv),
        "finder": finder(xt, yt),
    }
    result["load_average_before"] = [round(v, 2) for v in load_before]
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    result["cpu_count"] = os.cpu_count()
    result["wall_s"] = round(time.perf_counter() - begin, 1)
    result["versions"] = {"keras": keras.__version__, "tensorflow": tf.__version__}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        "distributed.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
