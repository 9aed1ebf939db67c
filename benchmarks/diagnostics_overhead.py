"""Overhead of the DiagnosticLogger against plain ``model.fit``, in one process.

Digits (1797 examples, batch 32: 57 steps per epoch), an MLP and a CNN (the library's
baselines). Configurations, each fitted on the same compiled model:

- ``plain``: ``model.fit`` with no callback;
- ``timing only``: the logger with activations, updates and gradients off and no probe
  (per-batch ``perf_counter`` in ``on_train_batch_begin``, losses and timing each epoch);
- ``everything on``: the logger with a 256-example probe, one record per epoch;
- ``batch-end override``: the timing-only logger plus an ``on_train_batch_end`` override
  (what DESIGN.md §5 warns about: it disables Keras's async batch-end dispatch);
- ``per-batch activation hook``: fastai-``ActivationStats``-style, activation mean/std of a
  32-example batch brought to the host after every batch.

Two wall-clock ratios against ``plain``: *steady* (median epoch time, first epoch of each
fit left out) and *total* (whole ``fit`` wall time, including the logger's one-off probe
compilation). On a busy machine these move by ±20 % from run to run, so the logger also
times its own hooks: the *derived* ratios are ``1 + (logger time per epoch) / (plain epoch
time)``, steady and including the one-off ``on_train_begin`` work over the fit.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/diagnostics_overhead.py``. Writes
``benchmarks/results/diagnostics_overhead.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import EpochTimer  # noqa: E402

from keras_recipes.data import load_dataset  # noqa: E402
from keras_recipes.diagnostics import DiagnosticLogger  # noqa: E402
from keras_recipes.diagnostics.probe import hidden_layers  # noqa: E402
from keras_recipes.models import baseline_cnn, baseline_mlp  # noqa: E402

RESULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                      "diagnostics_overhead.json")
EPOCHS = int(os.environ.get("BENCH_EPOCHS", "6"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
BATCH = 32


class TimedLogger(DiagnosticLogger):
    """The logger, with the wall time of its own hooks accumulated (for the derived ratio)."""

    def on_train_begin(self, logs=None):
        start = time.perf_counter()
        super().on_train_begin(logs)
        self.begin_s = time.perf_counter() - start
        self.epoch_end_s = []

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        super().on_epoch_end(epoch, logs)
        self.epoch_end_s.append(time.perf_counter() - start)


def batch_hook_cost(n=20000):
    """Seconds per call of the logger's per-batch hook (one perf_counter + list append)."""
    logger = DiagnosticLogger()
    logger.on_epoch_begin(0)
    start = time.perf_counter()
    for i in range(n):
        logger.on_train_batch_begin(i)
    return (time.perf_counter() - start) / n


class BatchEndLogger(DiagnosticLogger):
    """Timing-only logger that also overrides on_train_batch_end (forces sync dispatch)."""

    def on_train_batch_end(self, batch, logs=None):
        self._last_end = time.perf_counter()


class PerBatchActivationStats(keras.callbacks.Callback):
    """fastai-ActivationStats-like: activation mean/std to the host after every batch."""

    def __init__(self, x):
        super().__init__()
        self.x = x

    def on_train_begin(self, logs=None):
        layers = hidden_layers(self.model)
        self.view = keras.Model(self.model.inputs, [layer.output for layer in layers])
        self.stats = []

    def on_train_batch_end(self, batch, logs=None):
        outs = self.view.predict_on_batch(self.x)
        self.stats.append([(float(np.mean(o)), float(np.std(o))) for o in outs])


def configs(x, y):
    off = {"activations": False, "updates": False, "gradients": False, "predictions": 0}
    return {
        "plain": lambda: [],
        "timing only": lambda: [TimedLogger(**off)],
        "everything on": lambda: [TimedLogger(data=(x, y))],  # default 64-example probe
        "batch-end override": lambda: [BatchEndLogger(**off)],
        "per-batch activation hook": lambda: [PerBatchActivationStats(x[:BATCH])],
    }


def bench_model(name, build, x, y):
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)  # compile the train step
    cfgs = configs(x, y)
    epoch_times = {k: [] for k in cfgs}
    totals = {k: [] for k in cfgs}
    own = {k: {"begin": [], "epoch_end": []} for k in cfgs}
    names = list(cfgs)
    for rep in range(REPEATS):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for key in order:
            timer = EpochTimer()
            start = time.perf_counter()
            callbacks = cfgs[key]()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
                          callbacks=callbacks + [timer])
            totals[key].append(time.perf_counter() - start)
            for cb in callbacks:
                if isinstance(cb, TimedLogger):
                    own[key]["begin"].append(cb.begin_s)
                    own[key]["epoch_end"].extend(cb.epoch_end_s)
            epoch_times[key].extend(timer.times[1:])
    base_epoch = statistics.median(epoch_times["plain"])
    base_total = statistics.median(totals["plain"])
    steps = int(np.ceil(len(x) / BATCH))
    per_batch = batch_hook_cost()
    rows = {}
    for key in names:
        rows[key] = {
            "median_epoch_s": round(statistics.median(epoch_times[key]), 5),
            "steady_ratio": round(statistics.median(epoch_times[key]) / base_epoch, 4),
            "median_fit_s": round(statistics.median(totals[key]), 4),
            "total_ratio": round(statistics.median(totals[key]) / base_total, 4),
        }
        if own[key]["epoch_end"]:
            # The logger's own time: its epoch-end record plus `steps` per-batch hooks,
            # against plain fit's median epoch. Robust to the machine's load, unlike the
            # wall-clock ratios.
            record = statistics.median(own[key]["epoch_end"]) + steps * per_batch
            begin = statistics.median(own[key]["begin"])
            rows[key].update({
                "own_record_s": round(record, 5),
                "own_train_begin_s": round(begin, 4),
                "derived_steady_ratio": round(1 + record / base_epoch, 4),
                "derived_total_ratio": round(
                    1 + (EPOCHS * record + begin) / (EPOCHS * base_epoch), 4),
            })
    return {"model": name, "steps_per_epoch": steps, "epochs_per_fit": EPOCHS,
            "repeats": REPEATS, "batch_hook_s": per_batch, "configs": rows}


def main():
    ds = load_dataset("digits")
    x, y = ds.x, ds.y
    results = [
        bench_model("mlp", lambda: baseline_mlp(ds.input_shape, 10), x, y),
        bench_model("cnn", lambda: baseline_cnn(ds.input_shape, 10), x, y),
    ]
    lines = ["| model | configuration | median epoch (s) | steady ratio | total ratio | "
             "logger's own time per epoch (s) | derived steady ratio | derived total ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for key, row in r["configs"].items():
            own = (f"{row['own_record_s']:.4f} | {row['derived_steady_ratio']:.3f} | "
                   f"{row['derived_total_ratio']:.3f}") if "own_record_s" in row else "| |"
            lines.append(f"| {r['model']} | {key} | {row['median_epoch_s']:.4f} | "
                         f"{row['steady_ratio']:.3f} | {row['total_ratio']:.3f} | {own} |")
    md = "\n".join(lines)
    print(md)
    os.makedirs(os.path.dirname(RESULT), exist_ok=True)
    with open(RESULT, "w", encoding="utf-8") as fh:
        json.dump({"backend": keras.backend.backend(), "batch_size": BATCH,
                   "cpu_count": os.cpu_count(), "table_markdown": md, "results": results},
                  fh, indent=2)


if __name__ == "__main__":
    main()
