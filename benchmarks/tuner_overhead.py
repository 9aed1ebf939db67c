"""Cost of the library's callbacks inside a KerasTuner search, against a plain search.

A small ``keras_tuner.RandomSearch`` on digits (8×8 images, 1437 training and 360
validation examples): 6 trials × 2 executions, 3 epochs each, batch 32, KerasTuner's
getting-started model (``Sequential([Flatten(), Dense(units, relu), Dense(10, softmax)])``
with no ``Input`` layer, ``units`` ∈ {16, 32}: two model structures), Adam with a sampled
learning rate. Configurations, each a whole search in the same process:

- ``plain``: ``tuner.search(...)`` with no callback;
- ``callbacks``: the same search with ``DiagnosticLogger(data=(x, y))`` (default
  64-example probe, every statistic on) and ``keras.callbacks.TerminateOnNaN()``, the
  callback that ``grid_search`` and ``random_search`` add to every trial;
- ``random_search``: :func:`keras_recipes.tuning.random_search` with the same model, space,
  trials and executions and ``callbacks=[DiagnosticLogger(...)]`` (its own tuner subclass,
  progress lines off, results frame).

Every configuration first runs one warm-up search, timed apart as ``first_search_s``: it
holds each side's one-off costs in a process (Keras's and KerasTuner's for all three; for
the two with the logger, the first probe compile, and on JAX the ``import tensorflow`` that
Keras's ``get_config`` serialisation triggers whenever TensorFlow is installed, about
2.7 s here). Then the searches are interleaved (plain, callbacks, random_search, plain,
...), and each ratio is the median search time of a configuration over the median plain
search time, so the load of a shared machine affects both sides alike.
The same ratio of the process's CPU time (all threads) is recorded too: it moves less
than wall time when other jobs share the machine.
The number of times the probe function was traced per search is counted too (one per
model structure is the target: 2 here).

Each backend runs in its own process, ``RUNS`` times (default 2). Run:
``python benchmarks/tuner_overhead.py`` (both backends) or with ``--backend jax``.
Writes ``benchmarks/results/tuner_overhead.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
RESULT = os.path.join(HERE, "results", "tuner_overhead.json")
TRIALS, EXECUTIONS, EPOCHS, BATCH = 6, 2, 3, 32
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def _one_backend() -> dict:
    """Run the interleaved searches in this process (backend chosen by KERAS_BACKEND)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import keras
    import keras_tuner
    import numpy as np

    from keras_recipes.data import load_dataset
    from keras_recipes.diagnostics import DiagnosticLogger
    from keras_recipes.diagnostics.probe import Probe
    from keras_recipes.tuning import LogUniform, random_search

    warnings.filterwarnings("ignore")
    ds = load_dataset("digits")
    x = np.asarray(ds.x, "float32").reshape(-1, 8, 8)
    y = np.asarray(ds.y)
    x_train, y_train, x_val, y_val = x[:1437], y[:1437], x[1437:], y[1437:]

    def build(hp):
        model = keras.Sequential([
            keras.layers.Flatten(),
            keras.layers.Dense(hp.Choice("units", [16, 32]), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2,
                                                     sampling="log")),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    traces = {"n": 0}
    original = Probe.statistics

    def counted(self, *args, **kwargs):
        traces["n"] += 1  # runs only while the probe function is being traced
        return original(self, *args, **kwargs)

    Probe.statistics = counted

    def plain(callbacks=()):
        with tempfile.TemporaryDirectory() as folder:
            tuner = keras_tuner.RandomSearch(
                build, objective="val_loss", max_trials=TRIALS,
                executions_per_trial=EXECUTIONS, seed=1, directory=folder,
                project_name="p", overwrite=True)
            tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS,
                         batch_size=BATCH, verbose=0, callbacks=list(callbacks))

    def with_callbacks():
        plain([DiagnosticLogger(data=(x_train, y_train)), keras.callbacks.TerminateOnNaN()])

    def library():
        random_search(build, x_train, y_train, validation_data=(x_val, y_val),
                      space={"units": [16, 32], "learning_rate": LogUniform(1e-3, 1e-2)},
                      max_trials=TRIALS, executions_per_trial=EXECUTIONS, epochs=EPOCHS,
                      batch_size=BATCH, seed=1,
                      callbacks=[DiagnosticLogger(data=(x_train, y_train))])

    configs = {"plain": plain, "callbacks": with_callbacks, "random_search": library}
    first = {}
    for name, run in configs.items():  # warm-up: each side's one-off costs, timed apart
        start = time.perf_counter()
        run()
        first[name] = round(time.perf_counter() - start, 3)
    times = {name: [] for name in configs}
    cpu = {name: [] for name in configs}
    trace_counts = {name: [] for name in configs}
    for _ in range(ROUNDS):
        for name, run in configs.items():
            traces["n"] = 0
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            trace_counts[name].append(traces["n"])
    base = statistics.median(times["plain"])
    base_cpu = statistics.median(cpu["plain"])
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "keras_tuner": keras_tuner.__version__,
        "first_search_s": first,
        "search_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "median_search_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "ratio": {k: round(statistics.median(v) / base, 3) for k, v in times.items()},
        "search_cpu_s": {k: [round(t, 3) for t in v] for k, v in cpu.items()},
        "cpu_ratio": {k: round(statistics.median(v) / base_cpu, 3) for k, v in cpu.items()},
        "probe_traces_per_search": trace_counts,
        "load_average": list(os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["tensorflow", "jax"], action="append")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "2")))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(_one_backend()))
        return
    runs = []
    for backend in args.backend or ["tensorflow", "jax"]:
        for run in range(args.runs):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"],
                                  env=env, capture_output=True, text=True, check=False)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if done.returncode or not lines:
                sys.stderr.write(done.stderr[-4000:])
                raise SystemExit(f"{backend} run {run + 1} failed")
            result = json.loads(lines[-1][len("RESULT "):])
            result["run"] = run + 1
            runs.append(result)
            print(f"{backend} run {run + 1}: ratio {result['ratio']}, CPU-time ratio "
                  f"{result['cpu_ratio']}, probe traces "
                  f"{result['probe_traces_per_search']}", flush=True)
    payload = {
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "setup": {"trials": TRIALS, "executions_per_trial": EXECUTIONS, "epochs": EPOCHS,
                  "batch_size": BATCH, "rounds": ROUNDS, "structures": 2},
        "runs": runs,
    }
    os.makedirs(os.path.dirname(RESULT), exist_ok=True)
    with open(RESULT, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
