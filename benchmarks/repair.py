"""How often ``repair=True`` brings a faulty workflow run to a passed gate.

A panel of workflow runs, each with one planted fault of a different class (the doctor
panel's fault classes that apply to a workflow: a diverging rate, a rate too low to move,
raw inputs on wildly different scales, a sigmoid stack whose gradients vanish, an exploding
initialisation, a plain SGD at a tiny rate), on the library's presets (rewritable) and on
users' builders (not rewritable), through the steamroller (stage 1, or stages 1-2) and the
practical workflow (steps 1-4, then 5-7). Each run is made twice: without repair (to show
the fault is real: the gate fails, or the watchdog would stop it) and with ``repair=True``.
The result is the fraction of faulty runs whose gate passes after the repair (goal: 80 %),
with each run's findings, remedies and gate values.

Data are tiny (scikit-learn's digits, a generated 3-class table): the whole panel runs in a
few minutes on two CPU cores. Writes ``benchmarks/results/repair.json``.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/repair.py``
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_recipes.data import Dataset
from keras_recipes.workflows import STEAMROLLER_STAGES, practical, steamroller
from keras_recipes.workflows.repair import TrainingSettings

RESULTS = Path(__file__).parent / "results" / "repair.json"
STAGE1 = dict(stages=STEAMROLLER_STAGES[:1], lr_finder_steps=30, stage1_epochs=40,
              minibatch_steps=50, verbose=0, stage_classes=10, stage1_per_class=5)
PRACTICAL = dict(lr_candidates=(1e-2,), lr_steps=20, lr_factors=(1.0,), weight_decays=(0.0,),
                 grid_epochs=1, top_k=1, train_epochs=2, overfit_epochs=60, max_loops=0,
                 verbose=0, fresh=True)


def raw_table(n: int = 300, seed: int = 0) -> Dataset:
    """Three Gaussian classes in 4 features, on scales from 1 to 1e5 with large offsets."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, 4))[y] * 2 + rng.normal(size=(n, 4))) \
        * np.array([1e4, 1e3, 1.0, 1e5]) + np.array([5e4, 0.0, 0.0, -1e6])
    return Dataset(x.astype("float32"), y.astype("int64"), ["a", "b", "c"], (4,), "raw")


def dense_stack(name: str, layers: int, width: int, activation: str, init: Any = None):
    """A user's network builder ``name(input_shape, num_classes)``: ``layers`` Dense
    layers of ``width`` units, no BatchNorm, kernels from ``init`` (Keras's default: Glorot
    uniform)."""

    def build(input_shape, num_classes):
        x = inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(x)
        for _ in range(layers):
            x = keras.layers.Dense(width, activation=activation,
                                   kernel_initializer=init or "glorot_uniform")(x)
        head = keras.layers.Dense(num_classes, activation="softmax",
                                  kernel_initializer=init or "glorot_uniform")
        return keras.Model(inputs, head(x))

    build.__name__ = name
    return build


#: A user's eight sigmoid layers (vanishing gradients), two plain ReLU layers, and three
#: ReLU layers whose kernels start 30x too large (std 3).
sigmoid_stack = dense_stack("sigmoid_stack", 8, 32, "sigmoid")
plain_relu = dense_stack("plain_relu", 2, 64, "relu")
huge_init = dense_stack("huge_init", 3, 64, "relu",
                        keras.initializers.RandomNormal(stddev=3.0, seed=0))


#: (name, fault class, workflow, model, keyword arguments)
PANEL = [
    ("steamroller-mlp-lr10", "diverging rate", "steamroller", "mlp",
     dict(training=TrainingSettings(learning_rate=10.0))),
    ("steamroller-mlp-lr1e-6", "rate too low", "steamroller", "mlp",
     dict(training=TrainingSettings(learning_rate=1e-6))),
    ("steamroller-mlp-raw-nobn", "raw inputs, no BatchNorm", "steamroller", "mlp",
     dict(dataset="raw", standardize=False,
          training=TrainingSettings(standardize=False, batch_norm=False),
          stage_classes=3)),
    ("steamroller-user-sigmoid8", "vanishing gradients (user network)", "steamroller",
     sigmoid_stack, dict(standardize=False, stage1_per_class=3)),
    ("steamroller-user-raw", "raw inputs (user network)", "steamroller", plain_relu,
     dict(dataset="raw", standardize=False, stage_classes=3)),
    ("steamroller-user-huge-init", "exploding initialisation (user network)", "steamroller",
     huge_init, dict(standardize=False)),
    ("practical-mlp-raw", "raw inputs", "practical", "mlp",
     dict(dataset="raw", standardize=False)),
    ("practical-mlp-lr10", "diverging rate", "practical", "mlp", dict(overfit_lr=10.0)),
    ("practical-mlp-lr1e-6", "rate too low", "practical", "mlp", dict(overfit_lr=1e-6)),
    ("practical-user-sgd-tiny", "SGD at a tiny rate (user network)", "practical", plain_relu,
     dict(optimizer="sgd", overfit_lr=1e-4)),
]


def _run(workflow, model, kwargs, out, repair):
    kwargs = dict(kwargs)
    data = raw_table() if kwargs.pop("dataset", "digits") == "raw" else "digits"
    if workflow == "steamroller":
        report = steamroller(data, model, out=out, repair=repair, resume=False,
                             **{**STAGE1, **kwargs})
        record = report.stages[-1].record
        log = record.repair_log()
        gate = record.gate
        return report.passed, gate.get("value"), gate.get("metric"), log
    report = practical(data, model, out=out, repair=repair, **{**PRACTICAL, **kwargs})
    checks = sum(s.passed for s in report.steps if s.number <= 4)
    return report.passed, float(checks), "checks passed (of 4)", report.repair


def main() -> int:
    rows = []
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, fault, workflow, model, kwargs) in enumerate(PANEL):
            t = time.perf_counter()
            before = _run(workflow, model, kwargs, Path(tmp) / f"{i}a", False)
            after = _run(workflow, model, kwargs, Path(tmp) / f"{i}b", True)
            log = after[3]
            row = {"run": name, "fault": fault, "workflow": workflow,
                   "model": model if isinstance(model, str) else model.__name__,
                   "rewritable": isinstance(model, str), "metric": after[2],
                   "without_repair": {"passed": bool(before[0]), "gate": before[1]},
                   "with_repair": {"passed": bool(after[0]), "gate": after[1]},
                   "attempts": [a.to_json() for a in log.attempts],
                   "stop_reason": log.stop_reason,
                   "seconds": round(time.perf_counter() - t, 1)}
            rows.append(row)
            print(f"{name}: without repair {'passed' if before[0] else 'failed'} "
                  f"({before[1]}), with repair {'passed' if after[0] else 'failed'} "
                  f"({after[1]}); remedies {[a.remedy for a in log.attempts[1:]]}; "
                  f"{row['seconds']}s", flush=True)
    faulty = [r for r in rows if not r["without_repair"]["passed"]
              or r["attempts"][0]["passed"] is False]
    repaired = [r for r in faulty if r["with_repair"]["passed"]]
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} "
                   f"{platform.release()} (shared with other jobs)",
        "python": platform.python_version(), "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "goal": "fraction of faulty runs brought to a passed gate by repair=True >= 0.8",
        "faulty_runs": len(faulty), "repaired": len(repaired),
        "fraction_repaired": round(len(repaired) / max(1, len(faulty)), 3),
        "seconds": round(time.perf_counter() - begin, 1),
        "runs": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"repaired {len(repaired)}/{len(faulty)} faulty runs "
          f"({result['fraction_repaired']:.0%}); {result['seconds']}s -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
