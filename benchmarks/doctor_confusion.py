"""Sabotaged trainings on digits: which findings does the training doctor report?

Each scenario trains a small model on the embedded digits data with one thing broken, records
it with a DiagnosticLogger and runs ``diagnose``. The table says which finding codes fire on
which run (E = error, W = warning, i = info). The healthy run must show no E or W.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/doctor_confusion.py`` (about 1-2 minutes
on two CPU cores). Writes ``benchmarks/results/doctor_confusion.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes.data import load_dataset, split  # noqa: E402
from keras_recipes.diagnostics import DiagnosticLogger, diagnose  # noqa: E402
from keras_recipes.models import baseline_mlp  # noqa: E402

RESULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                      "doctor_confusion.json")


def constant_mlp(input_shape, num_classes, value=0.05):
    """Dense-ReLU MLP whose kernels all start at the same constant (seed 000's w = k)."""
    init = keras.initializers.Constant(value)
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(64, activation="relu", kernel_initializer=init, name="dense_0")(x)
    x = keras.layers.Dense(64, activation="relu", kernel_initializer=init, name="dense_1")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=init,
                             name="head")(x)
    return keras.Model(inputs, out, name="constant_mlp")


def scenarios(ds):
    (xt, yt), (xv, yv), _ = split(ds.x, ds.y, seed=0)
    shape, c = ds.input_shape, ds.num_classes
    rng = np.random.default_rng(0)
    healthy = {"model": lambda: baseline_mlp(shape, c), "lr": 1e-3, "epochs": 15,
               "train": (xt, yt), "val": (xv, yv)}
    return {
        "healthy": healthy,
        "lr_10": {**healthy, "lr": 10.0, "epochs": 8},
        "constant_init": {**healthy, "model": lambda: constant_mlp(shape, c)},
        "inputs_x255": {**healthy, "train": (xt * 255, yt), "val": (xv * 255, yv)},
        "shuffled_labels": {**healthy, "train": (xt, rng.permutation(yt))},
        "tiny_train_big_model": {**healthy, "epochs": 40, "train": (xt[:60], yt[:60]),
                                 "model": lambda: baseline_mlp(shape, c, hidden=(512, 512))},
        "two_epochs_tiny_lr": {**healthy, "lr": 1e-5, "epochs": 2},
    }


def run(name, spec):
    keras.utils.set_random_seed(0)
    model = spec["model"]()
    model.compile(keras.optimizers.Adam(spec["lr"]), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    logger = DiagnosticLogger(data=spec["train"], validation_data=spec["val"])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(*spec["train"], validation_data=spec["val"], epochs=spec["epochs"],
                  batch_size=32, verbose=0, callbacks=[logger])
    seconds = time.perf_counter() - start
    findings = diagnose(logger)
    return {"seconds": round(seconds, 2),
            "findings": {f.code: f.severity for f in findings},
            "details": [str(f) for f in findings],
            "final": {k: float(v[-1]) for k, v in logger_history(logger).items()}}


def logger_history(logger):
    f = logger.frame
    f = f[(f.layer == "model") & f.stat.isin(["loss", "val_loss", "accuracy", "val_accuracy"])]
    return {s: rows.sort_values("epoch")["value"].to_numpy() for s, rows in f.groupby("stat")}


def table(results):
    codes = sorted({c for r in results.values() for c in r["findings"]})
    mark = {"error": "E", "warning": "W", "info": "i"}
    head = "| run | " + " | ".join(f"`{c}`" for c in codes) + " |"
    lines = [head, "|" + "---|" * (len(codes) + 1)]
    for name, r in results.items():
        cells = [mark.get(r["findings"].get(c), "") for c in codes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ds = load_dataset("digits")
    results = {}
    for name, spec in scenarios(ds).items():
        results[name] = run(name, spec)
        print(f"{name}: {results[name]['findings']} ({results[name]['seconds']} s) "
              f"{results[name]['final']}", flush=True)
    md = table(results)
    print()
    print(md)
    healthy_ok = not any(s in ("error", "warning") for s in results["healthy"]["findings"].values())
    print(f"\nhealthy run free of warnings: {healthy_ok}")
    os.makedirs(os.path.dirname(RESULT), exist_ok=True)
    with open(RESULT, "w", encoding="utf-8") as fh:
        json.dump({"backend": keras.backend.backend(), "healthy_ok": healthy_ok,
                   "table_markdown": md, "runs": results}, fh, indent=2)
    return 0 if healthy_ok else 1


if __name__ == "__main__":
    sys.exit(main())
