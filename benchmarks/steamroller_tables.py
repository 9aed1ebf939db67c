"""Benchmark: each model preset of the steamroller on digits and on users' CSV tables.

Every run is the command a user types, with default settings, in a fresh process:

    keras-recipes steamroller --dataset DATA [--target target] --model PRESET --out DIR

Data: the embedded digits, and scikit-learn's bundled iris, wine and breast-cancer tables
written with ``DataFrame.to_csv(index=False)``. The ``cnn`` preset needs images, so on the
tables it is refused at once (exit 2): the table says so. For each run: the stage gates,
the test accuracy, the exit code and the wall time. Prints a Markdown table and writes
``benchmarks/results/steamroller_tables.json``.

    python benchmarks/steamroller_tables.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "steamroller_tables.json"
TABLES = ("iris", "wine", "breast_cancer")


def _write_tables(folder: Path) -> dict[str, Path]:
    import sklearn.datasets

    paths = {}
    for name in TABLES:
        path = folder / f"{name}.csv"
        getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame.to_csv(path, index=False)
        paths[name] = path
    return paths


def _run(dataset: str, preset: str, out: Path, target: str | None) -> dict:
    argv = [sys.executable, "-m", "keras_recipes.cli", "steamroller", "--dataset", dataset,
            "--model", preset, "--out", str(out), "--quiet"]
    if target:
        argv += ["--target", target]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    row = {"exit": proc.returncode, "seconds": round(time.perf_counter() - start, 1)}
    if proc.returncode == 2:
        row["refused"] = proc.stderr.strip().splitlines()[-1]
        return row
    summary = json.loads((out / "summary.json").read_text())
    row["gates"] = {k: {"metric": r["gate"]["metric"], "value": r["gate"]["value"],
                        "status": r["status"]} for k, r in summary["stages"].items()}
    row["status"] = summary["status"]
    row["test_accuracy"] = summary.get("test_accuracy")
    return row


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tables = _write_tables(tmp)
        data = {"digits": ("digits", None), **{k: (str(v), "target") for k, v in tables.items()}}
        for preset in ("mlp", "cnn"):
            for name, (dataset, target) in data.items():
                row = _run(dataset, preset, tmp / f"{preset}_{name}", target)
                results[f"{preset}/{name}"] = row
                print(f"{preset}/{name}: {row}", flush=True)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| preset | data | stage 1 | stage 2 | test accuracy | exit | wall s |")
    print("|---|---|---|---|---|---|---|")
    for key, row in results.items():
        preset, name = key.split("/")
        if "refused" in row:
            print(f"| {preset} | {name} | refused: needs images | | | 2 | {row['seconds']} |")
            continue
        g = row["gates"]

        def cell(k, g=g):
            return f"{g[k]['status']} ({g[k]['value']:.3f})" if k in g else "—"

        acc = row["test_accuracy"]
        print(f"| {preset} | {name} | {cell('1')} | {cell('2')} | "
              f"{'—' if acc is None else f'{acc:.4f}'} | {row['exit']} | {row['seconds']} |")


if __name__ == "__main__":
    main()
