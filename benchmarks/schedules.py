"""Cost of the learning-rate schedules and of HyperparameterScheduler inside `fit`.

Each configuration trains the same MLP on the 8×8 digits; the time of `fit` (after one
warm-up epoch that traces the step function) is divided by the time with a constant
learning rate, measured in the same process. A Python callback that sets the learning rate
before every batch shows what computing the schedule inside the compiled step saves.

Usage: ``python benchmarks/schedules.py [--epochs 5] [--repeats 3]``; writes
``benchmarks/results/schedules.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import EpochTimer  # noqa: E402

from keras_recipes.callbacks import HyperparameterScheduler  # noqa: E402
from keras_recipes.data import load_dataset  # noqa: E402
from keras_recipes.schedules import (  # noqa: E402
    Chain,
    CyclicLR,
    InverseSqrtDecay,
    MultiStepDecay,
    OneCycle,
    WarmRestarts,
    Warmup,
)

BATCH = 32


class PythonPerBatchLR(keras.callbacks.Callback):
    """The slow way: compute the rate in Python and assign it before every batch."""

    def __init__(self, base_lr, max_lr, step_size):
        super().__init__()
        self.base_lr, self.max_lr, self.step_size = base_lr, max_lr, step_size
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        cycle = np.floor(1 + self.step / (2 * self.step_size))
        x = abs(self.step / self.step_size - 2 * cycle + 1)
        self.model.optimizer.learning_rate = self.base_lr + (
            self.max_lr - self.base_lr) * max(0.0, 1 - x)
        self.step += 1


def configs(total_steps):
    cosine = keras.optimizers.schedules.CosineDecay(0.05, total_steps)
    one_cycle = OneCycle(0.1, total_steps)
    return {
        "constant (baseline)": (lambda: 0.05, lambda: []),
        "MultiStepDecay": (lambda: MultiStepDecay([total_steps // 2, total_steps * 3 // 4],
                                                  initial_learning_rate=0.05), lambda: []),
        "InverseSqrtDecay": (lambda: InverseSqrtDecay(0.05, 100), lambda: []),
        "Warmup(CosineDecay)": (lambda: Warmup(cosine, 100), lambda: []),
        "Chain(warm-up, flat, cosine)": (lambda: Chain(
            [(100, Warmup(0.05, 100)), (200, 0.05), (None, cosine)]), lambda: []),
        "WarmRestarts": (lambda: WarmRestarts(200, t_mult=2.0, initial_learning_rate=0.05),
                         lambda: []),
        "CyclicLR": (lambda: CyclicLR(0.005, 0.05, 100), lambda: []),
        "OneCycle": (lambda: one_cycle, lambda: []),
        "OneCycle + HyperparameterScheduler(momentum)": (
            lambda: one_cycle,
            lambda: [HyperparameterScheduler({"momentum": one_cycle.momentum_schedule()})]),
        "Python per-batch callback (CyclicLR)": (
            lambda: 0.05, lambda: [PythonPerBatchLR(0.005, 0.05, 100)]),
    }


def time_fit(x, y, lr, callbacks, epochs):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks)  # trace
    timer = EpochTimer()
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=callbacks + [timer])
    return time.perf_counter() - start, timer.times[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "schedules.json"))
    args = parser.parse_args()
    data = load_dataset("digits", flatten=True)
    x, y = data.x, data.y
    steps = int(np.ceil(len(x) / BATCH)) * (args.epochs + 1)
    table = configs(steps)
    times = {name: [] for name in table}
    epochs = {name: [] for name in table}
    for _ in range(args.repeats):  # interleaved, so load changes hit every configuration
        for name, (lr, callbacks) in table.items():
            fit_time, epoch_times = time_fit(x, y, lr(), callbacks(), args.epochs)
            times[name].append(fit_time)
            epochs[name].extend(epoch_times)
    base = statistics.median(times["constant (baseline)"])
    base_epoch = statistics.median(epochs["constant (baseline)"])
    rows = []
    for name, ts in times.items():
        med, med_epoch = statistics.median(ts), statistics.median(epochs[name])
        rows.append({"configuration": name, "fit_median_s": round(med, 4),
                     "fit_ratio": round(med / base, 3),
                     "epoch_median_s": round(med_epoch, 4),
                     "epoch_ratio": round(med_epoch / base_epoch, 3),
                     "fit_times_s": [round(t, 4) for t in ts]})
    print(f"| configuration | `fit` time, s (median of {args.repeats}) | `fit` ratio "
          "| epoch time, s (median) | epoch ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['configuration']} | {r['fit_median_s']:.3f} | {r['fit_ratio']:.3f} "
              f"| {r['epoch_median_s']:.4f} | {r['epoch_ratio']:.3f} |")
    result = {
        "benchmark": "schedules",
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "machine": f"{platform.machine()} ({os.cpu_count()} CPUs)",
        "epochs": args.epochs,
        "steps_per_epoch": int(np.ceil(len(x) / BATCH)),
        "repeats": args.repeats,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
