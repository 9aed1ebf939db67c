"""Train-step time of Yogi, NesterovRMSprop and RAdam against Keras's Adam.

A ~1.07M-parameter MLP (784 -> 1024 -> 256 -> 10) is trained on the same random data
with each optimizer, in one process. Each optimizer gets a warm-up epoch (compilation),
then the timed epochs are interleaved across optimizers (round robin) so that machine
load affects them alike; the median epoch time per optimizer is divided by Adam's.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/optimizers.py`` (writes
``benchmarks/results/optimizers.json`` and prints a Markdown table).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes.optimizers import NesterovRMSprop, RAdam, Yogi  # noqa: E402

BATCH = 256
STEPS = 40  # train steps per timed epoch
ROUNDS = 5


def make_model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(1024, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, 784)).astype("float32")
    y = rng.integers(0, 10, size=(BATCH * STEPS,))
    factories = {
        "Adam (Keras)": lambda: keras.optimizers.Adam(1e-3),
        "Yogi": lambda: Yogi(1e-3),
        "NesterovRMSprop": lambda: NesterovRMSprop(1e-3),
        "RAdam": lambda: RAdam(1e-3),
    }
    models = {}
    for name, factory in factories.items():
        models[name] = make_model(factory())
        models[name].fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # compile + warm-up
    n_params = models["Adam (Keras)"].count_params()
    times: dict[str, list[float]] = {name: [] for name in factories}
    for _ in range(ROUNDS):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / STEPS)
    base = statistics.median(times["Adam (Keras)"])
    rows = []
    for name in factories:
        step = statistics.median(times[name])
        rows.append({"optimizer": name, "ms_per_step": 1000 * step, "ratio_vs_adam": step / base,
                     "all_ms": [1000 * t for t in times[name]]})
    result = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} CPU",
        "parameters": n_params,
        "batch_size": BATCH,
        "steps_per_epoch": STEPS,
        "rounds": ROUNDS,
        "results": rows,
    }
    print(f"MLP {n_params:,} parameters, batch {BATCH}, backend {result['backend']}, "
          f"median of {ROUNDS} epochs x {STEPS} steps\n")
    print("| optimizer | ms / step | ratio vs Adam |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['optimizer']} | {row['ms_per_step']:.2f} | {row['ratio_vs_adam']:.3f} |")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "optimizers.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
