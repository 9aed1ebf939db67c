"""How good and how cheap are the learning-rate finder's suggestions?

For four small tasks (digits MLP, digits CNN, spirals, regression) it compares every
suggestion rule of :func:`keras_recipes.lr_finder.find_lr` (``valley``, ``steepest``,
``minimum``, ``combined``) with a 7-point log grid of real training runs at a constant rate
(Adam, learning rates 1e-4 … 1). Every run starts from the same initial weights and trains
for the same number of epochs. (``benchmarks/recipe_vs_defaults.py`` does the same for
one-cycle's peak.)

Reported per task:

- ``<rule>/best``: the final validation score of a run at the rule's suggestion divided by
  the best score of the grid (accuracy; R² for regression); target ≥ 0.97;
- ``finder/grid time``: the finder's wall time divided by the grid's; target ≤ 0.05.

Writes ``benchmarks/results/lr_finder_quality.json`` and prints a Markdown table.

Run: ``.venv/bin/python benchmarks/lr_finder_quality.py`` (a few minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes.data import load_dataset, split  # noqa: E402
from keras_recipes.lr_finder import SUGGESTION_RULES, find_lr  # noqa: E402
from keras_recipes.models import baseline_cnn, baseline_mlp  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "results"
GRID = [float(v) for v in np.logspace(-4, 0, 7)]
BATCH = 32

TASKS = {
    # name: (dataset, flatten, builder, epochs)
    "digits MLP": ("digits", True, lambda s, c: baseline_mlp(s, c, hidden=(64,)), 12),
    "digits CNN": ("digits", False, lambda s, c: baseline_cnn(s, c, filters=(16, 32)), 8),
    "spirals": ("spirals", False, lambda s, c: baseline_mlp(s, c, hidden=(64, 64)), 30),
    "regression": ("regression", False,
                   lambda s, c: baseline_mlp(s, 1, hidden=(64, 64), output_activation=None),
                   30),
}


def _data(dataset: str, flatten: bool):
    ds = load_dataset(dataset, flatten=flatten, seed=0)
    regression = ds.task == "regression"
    train, val, _ = split(ds.x, ds.y, stratify=not regression, seed=0)
    return ds, regression, train, val


def _model(builder, ds, regression: bool, initial, lr: float):
    model = builder(ds.input_shape, ds.num_classes)
    if initial is not None:
        model.set_weights(initial)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="mse" if regression else "sparse_categorical_crossentropy",
    )
    return model


def _score(model, val, regression: bool) -> float:
    x, y = val
    pred = model.predict(x, batch_size=512, verbose=0)
    if not np.all(np.isfinite(pred)):
        return float("-inf")
    if regression:
        y = np.asarray(y, dtype="float64").reshape(pred.shape)
        return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    return float(np.mean(np.argmax(pred, axis=1) == y))


def _train(builder, ds, regression, initial, lr, train, val, epochs):
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = _model(builder, ds, regression, initial, lr)
    model.fit(*train, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=True)
    score = _score(model, val, regression)
    return score, time.perf_counter() - start


def run_task(name: str) -> dict:
    dataset, flatten, builder, epochs = TASKS[name]
    ds, regression, train, val = _data(dataset, flatten)
    keras.utils.set_random_seed(0)
    initial = builder(ds.input_shape, ds.num_classes).get_weights()

    grid, grid_time = {}, 0.0
    for lr in GRID:
        score, seconds = _train(builder, ds, regression, initial, lr, train, val, epochs)
        grid[lr] = score
        grid_time += seconds
    best_lr = max(grid, key=grid.get)
    best = grid[best_lr]

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = _model(builder, ds, regression, initial, 1e-3)
    result = find_lr(model, *train, batch_size=BATCH)
    finder_time = time.perf_counter() - start

    row = {
        "task": name,
        "epochs": epochs,
        "grid": {f"{lr:.3g}": s for lr, s in grid.items()},
        "grid_best_lr": best_lr,
        "grid_best_score": best,
        "finder_stop": result.stop_reason,
        "finder_seconds": finder_time,
        "grid_seconds": grid_time,
        "time_ratio": finder_time / grid_time,
        "score": "R2" if regression else "accuracy",
    }
    for rule in SUGGESTION_RULES:
        lr = result.suggestions[rule]
        score = (float("nan") if lr is None else
                 _train(builder, ds, regression, initial, lr, train, val, epochs)[0])
        row[f"{rule}_lr"] = lr
        row[f"{rule}_score"] = score
        row[f"{rule}_ratio"] = score / best if best > 0 else float("nan")
    return row


def _cell(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3f}"


def main() -> None:
    total = time.perf_counter()
    rows = [run_task(name) for name in TASKS]
    lines = [
        "| task | score | grid best (lr) | "
        + " | ".join(f"{rule} lr | {rule}/best" for rule in SUGGESTION_RULES)
        + " | finder/grid time |",
        "|---|---|---|" + "---|---|" * len(SUGGESTION_RULES) + "---|",
    ]
    for r in rows:
        cells = " | ".join(
            f"{'—' if r[f'{rule}_lr'] is None else format(r[f'{rule}_lr'], '.2g')} | "
            f"{_cell(r[f'{rule}_ratio'])}" for rule in SUGGESTION_RULES)
        lines.append(
            f"| {r['task']} | {r['score']} | {_cell(r['grid_best_score'])} "
            f"({r['grid_best_lr']:.2g}) | {cells} | {r['time_ratio']:.3f} |"
        )
    print("\n".join(lines))
    elapsed = time.perf_counter() - total
    print(f"\ntotal {elapsed:.0f} s, backend {keras.backend.backend()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "backend": keras.backend.backend(),
        "grid": GRID,
        "batch_size": BATCH,
        "finder": {"min_lr": 1e-7, "max_lr": 10.0, "num_steps": 100, "optimizer": "Adam"},
        "total_seconds": elapsed,
        "tasks": rows,
    }
    (RESULTS / "lr_finder_quality.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
