"""Benchmark: wall time and test accuracy of `make demo` (the steamroller on digits).

Runs, each in a fresh process so that every figure includes Python start-up and the
TensorFlow import exactly as ``make demo`` does:

1. ``keras-recipes steamroller --dataset digits --model mlp --fresh`` (the demo);
2. plain Keras: the steamroller's stage-3 network, default ``Adam()``, batch 32, 20 epochs,
   no LR finder, no schedule, no early stopping, no augmentation;
3. the same plain Keras run, training epoch after epoch until the process has used the
   demo's wall time (equal wall time).

Targets: demo ≤ 120 s on 2 cores, test accuracy ≥ 0.97. Prints a Markdown table and writes
``benchmarks/results/steamroller.json``.

    python benchmarks/steamroller.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "steamroller.json"


def _plain_keras(epochs: int | None, budget_s: float | None, started: float) -> dict:
    """Child process: plain Keras fit of the stage-3 network on the same split."""
    import keras
    import numpy as np

    from keras_recipes.data import load_dataset, split
    from keras_recipes.workflows.common import build_network

    keras.utils.set_random_seed(0)
    ds = load_dataset("digits")
    train, val, test = split(ds.x, ds.y, seed=0)
    model = build_network("mlp", ds.input_shape, ds.num_classes, size=1, dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    done = 0
    if epochs is not None:
        model.fit(*train, validation_data=val, epochs=epochs, batch_size=32, verbose=0)
        done = epochs
    else:
        epoch_time = 0.0
        while time.time() - started + epoch_time < budget_s:
            t = time.time()
            model.fit(*train, validation_data=val, epochs=done + 1, initial_epoch=done,
                      batch_size=32, verbose=0)
            epoch_time = time.time() - t
            done += 1
    predicted = np.argmax(model.predict(test[0], verbose=0), axis=1)
    return {"epochs": done, "test_accuracy": float(np.mean(predicted == test[1])),
            "wall_s": time.time() - started}


CPU_S: list[float] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str]) -> tuple[float, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    t, cpu = time.time(), _children_cpu()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.time() - t
    CPU_S.append(_children_cpu() - cpu)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child-epochs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-budget", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_epochs is not None or args.child_budget is not None:
        started = float(os.environ["BENCH_STARTED"])
        print(json.dumps(_plain_keras(args.child_epochs, args.child_budget, started)))
        return

    exe = Path(sys.executable)
    cli = exe.parent / "keras-recipes"
    demo_cmd = ([str(cli)] if cli.exists() else [str(exe), "-m", "keras_recipes.cli"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        demo_wall, _ = _run([*demo_cmd, "steamroller", "--dataset", "digits", "--model", "mlp",
                             "--out", str(out), "--fresh", "--quiet"])
        summary = json.loads((out / "summary.json").read_text())

    def child(flag: str, value: str) -> dict:
        os.environ["BENCH_STARTED"] = repr(time.time())
        _, text = _run([str(exe), __file__, flag, value])
        return json.loads(text.strip().splitlines()[-1])

    plain20 = child("--child-epochs", "20")
    equal = child("--child-budget", repr(demo_wall))
    stages = {k: {"epochs": r["epochs_run"], "seconds": r["seconds"],
                  "timings": r.get("timings", {})} for k, r in summary["stages"].items()}
    result = {
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
                    "backend": os.environ.get("KERAS_BACKEND", "tensorflow")},
        "demo": {"wall_s": round(demo_wall, 1), "cpu_s": round(CPU_S[0], 1),
                 "status": summary["status"],
                 "test_accuracy": summary.get("test_accuracy"),
                 "in_process_s": summary.get("wall_seconds"), "stages": stages},
        "plain_keras_20_epochs": {**{k: round(v, 4) for k, v in plain20.items()},
                                  "cpu_s": round(CPU_S[1], 1)},
        "plain_keras_equal_wall_time": {**{k: round(v, 4) for k, v in equal.items()},
                                        "cpu_s": round(CPU_S[2], 1)},
        "targets": {"wall_s": 120, "test_accuracy": 0.97},
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    rows = [("`make demo` (steamroller, 3 stages)", demo_wall, CPU_S[0],
             summary.get("test_accuracy"), "LR finder ×3, 3 stages"),
            ("plain Keras, Adam(), 20 epochs", plain20["wall_s"], CPU_S[1],
             plain20["test_accuracy"], "20 epochs"),
            ("plain Keras, Adam(), equal wall time", equal["wall_s"], CPU_S[2],
             equal["test_accuracy"], f"{equal['epochs']} epochs")]
    print(f"Load average {result['machine']['load_average_1m']:.1f} on "
          f"{result['machine']['cpus']} cores; each row is a fresh process (import included).")
    print("| run | wall time (s) | CPU time (s) | test accuracy | work |")
    print("|---|---|---|---|---|")
    for name, wall, cpu, acc, work in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {acc:.4f} | {work} |")
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
