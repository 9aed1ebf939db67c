"""Does the library's recipe train better than plain Keras? Measured on a panel of tasks.

For each task of the panel (digits MLP, digits CNN, spirals, moons, wine, breast cancer,
diabetes, a generated regression), with the same network, the same split
(:func:`keras_recipes.data.split`, seed 0), the same initial weights and the same input
standardisation (:func:`keras_recipes.workflows.standardize.standardization_layer` first
in the network), each run in a fresh process:

(a) **plain Keras**: ``Adam()`` (learning rate 1e-3), batch 32, ``E`` epochs;
(b) **the recipe**, ``E/2`` epochs: a 100-step range test
    (:func:`keras_recipes.lr_finder.find_lr`, smoothing 0.9, as the steamroller's stage 3)
    whose ``combined`` suggestion is the peak of a :class:`keras_recipes.schedules.OneCycle`
    schedule (its defaults) on ``AdamW(weight_decay=1e-4)``, trained to the schedule's end,
    then :class:`keras_recipes.callbacks.PreciseBatchNorm` (the stage-3 training step
    without augmentation, growth, diagnostics or best-epoch restoring). Regression uses the
    same recipe with the MSE loss and a linear head. ``RECIPE_RULE=minimum`` picks another
    rule; ``RECIPE_KEEP=val_loss`` restores the best epoch by validation loss with
    :class:`keras_recipes.callbacks.KeepBest`, as stage 3 does;
(c) **equal wall time**: plain Keras given the recipe's wall time (range test included),
    read from run (a)'s epoch-by-epoch test scores (``Adam()`` has a constant rate, so the
    score after ``k`` epochs of a longer run is the score of a ``k``-epoch run). Run (a)
    goes on past ``E`` epochs when the recipe took longer.

Wall times count model building, the range test, training and the BatchNorm
recalibration; not the Python start-up, the imports (done before the clock starts in both
runs), data loading or the evaluations.
Regression targets are standardised with the training mean and standard deviation for
both runs; MSE is reported in the target's own units.

"Matches" means a test score at most one test example below plain Keras (classification)
or a test MSE at most 2 % above it (regression); "beats" means strictly better.

Second measurement, per task: the suggestion rule's learning rate against a 7-point log
grid (1e-4 … 1) of one-cycle peaks, every grid run being the recipe with that peak
instead of the suggestion (same initial weights, ``E/2`` epochs). Ratio = the rule's
validation score / the grid's best validation score (accuracy, or R² for regression);
target ≥ 0.97. Every rule of :data:`keras_recipes.lr_finder.SUGGESTION_RULES` is scored.

Writes ``benchmarks/results/recipe_vs_defaults.json`` and prints Markdown tables.

Run: ``.venv/bin/python benchmarks/recipe_vs_defaults.py`` (about 35 minutes on 2 busy
cores); ``--tasks wine,moons`` for a subset, ``--phase compare`` or ``--phase grid`` for
one half (the other half's results are kept from the result file, ``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "recipe_vs_defaults.json"
GRID = [10.0 ** (-4 + 2 * i / 3) for i in range(7)]  # 1e-4 … 1, 7 points, even in log
BATCH = 32
#: The rule the recipe uses for one-cycle's peak.
RULE = os.environ.get("RECIPE_RULE", "combined")
SMOOTHING = 0.9
#: What the recipe keeps: "last" (the schedule's end) or a KeepBest monitor ("val_loss").
KEEP = os.environ.get("RECIPE_KEEP", "last")
WEIGHT_DECAY = 1e-4


@dataclass(frozen=True)
class Task:
    data: str
    kind: str  # "mlp" or "cnn"
    epochs: int  # E: plain Keras's epochs; the recipe trains E // 2
    size: dict = field(default_factory=dict)
    dropout: float = 0.0
    regression: bool = False


TASKS = {
    "digits MLP": Task("digits", "mlp", 20, {"hidden": (256, 256)}, dropout=0.1),
    "digits CNN": Task("digits", "cnn", 20, {"filters": (32, 64)}),
    "spirals": Task("spirals", "mlp", 40, {"hidden": (64, 64)}),
    "moons": Task("moons", "mlp", 20, {"hidden": (32, 32)}),
    "wine": Task("wine", "mlp", 40, {"hidden": (64,)}),
    "breast cancer": Task("breast_cancer", "mlp", 40, {"hidden": (64,)}),
    "diabetes": Task("diabetes", "mlp", 60, {"hidden": (16,)}, regression=True),
    "regression (generated)": Task("regression", "mlp", 30, {"hidden": (64, 64)},
                                   regression=True),
}


# --------------------------------------------------------------------------- child side
def _load(task: Task):
    """(x, y, num_classes) of the task, raw inputs (no scaling)."""
    if task.data in ("wine", "breast_cancer", "diabetes"):
        from sklearn import datasets

        loader = getattr(datasets, f"load_{task.data}")
        x, y = loader(return_X_y=True)
        x = x.astype("float32")
        if task.regression:
            return x, y.astype("float32")[:, None], 1
        return x, y.astype("int64"), int(y.max()) + 1
    from keras_recipes.data import load_dataset

    ds = load_dataset(task.data, flatten=task.kind == "mlp", seed=0)
    y = ds.y.astype("float32") if task.regression else ds.y
    return ds.x.astype("float32"), y, 1 if task.regression else ds.num_classes


def _setup(task: Task):
    from keras_recipes.data import split

    x, y, classes = _load(task)
    train, val, test = split(x, y, stratify=not task.regression, seed=0)
    y_scale = (0.0, 1.0)
    if task.regression:
        mean, std = float(train[1].mean()), float(train[1].std())
        y_scale = (mean, std)
        train, val, test = ((a, (b - mean) / std) for a, b in (train, val, test))
    return train, val, test, classes, y_scale


def _build(task: Task, train, classes):
    import keras

    from keras_recipes.models import baseline_cnn, baseline_mlp
    from keras_recipes.workflows.standardize import standardization_layer

    keras.utils.set_random_seed(0)
    builder = baseline_cnn if task.kind == "cnn" else baseline_mlp
    return builder(train[0].shape[1:], classes, dropout=task.dropout,
                   output_activation=None if task.regression else "softmax",
                   normalization=standardization_layer(train[0]), **task.size)


def _compile(model, optimizer, task: Task):
    model.compile(optimizer=optimizer,
                  loss="mse" if task.regression else "sparse_categorical_crossentropy")


def _scores(model, data, task: Task, y_scale) -> dict:
    import numpy as np

    x, y = data
    pred = np.asarray(model.predict(x, batch_size=512, verbose=0), dtype="float64")
    if not np.all(np.isfinite(pred)):
        return {"score": float("-inf"), "mse": float("inf")} if task.regression else \
            {"score": 0.0}
    if task.regression:
        y = np.asarray(y, dtype="float64").reshape(pred.shape)
        r2 = 1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
        mse = float(np.mean((y - pred) ** 2)) * y_scale[1] ** 2
        return {"score": float(r2), "mse": mse}
    return {"score": float(np.mean(np.argmax(pred, axis=1) == y))}


def _range_test(model, train, task: Task):
    import keras

    from keras_recipes.lr_finder import find_lr

    _compile(model, keras.optimizers.Adam(1e-3), task)
    return find_lr(model, *train, num_steps=100, batch_size=BATCH, smoothing=SMOOTHING,
                   seed=0, suggest=RULE)


def _recipe_fit(model, train, val, task: Task, max_lr: float) -> dict:
    import keras

    from keras_recipes.callbacks import KeepBest, PreciseBatchNorm
    from keras_recipes.schedules import OneCycle

    epochs = task.epochs // 2
    steps = epochs * math.ceil(len(train[0]) / BATCH)
    optimizer = keras.optimizers.AdamW(OneCycle(max_lr, steps), weight_decay=WEIGHT_DECAY)
    _compile(model, optimizer, task)
    callbacks = [PreciseBatchNorm(train[0], batch_size=BATCH)]
    if KEEP == "last":
        model.fit(*train, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks)
        return {"epochs": epochs, "kept_epoch": epochs}
    keep = KeepBest(monitor=KEEP, catch_interrupt=False)
    model.fit(*train, validation_data=val, epochs=epochs, batch_size=BATCH, verbose=0,
              callbacks=[keep, *callbacks])
    return {"epochs": epochs, "kept_epoch": None if keep.best_epoch is None
            else int(keep.best_epoch) + 1}


def _import_all() -> None:
    """Import TensorFlow/Keras and the library before any clock starts."""
    import keras  # noqa: F401

    import keras_recipes.callbacks  # noqa: F401
    import keras_recipes.lr_finder  # noqa: F401
    import keras_recipes.models  # noqa: F401
    import keras_recipes.schedules  # noqa: F401
    import keras_recipes.workflows.standardize  # noqa: F401


def child_recipe(task: Task) -> dict:
    _import_all()
    train, val, test, classes, y_scale = _setup(task)
    start = time.perf_counter()
    model = _build(task, train, classes)
    finder = _range_test(model, train, task)
    lr = finder.suggestion if finder.suggestion and finder.suggestion > 0 else 1e-3
    finder_s = time.perf_counter() - start
    fitted = _recipe_fit(model, train, val, task, lr)
    wall = time.perf_counter() - start
    return {**fitted, "lr": lr, "wall_s": wall, "range_test_s": finder_s,
            "test": _scores(model, test, task, y_scale),
            "val": _scores(model, val, task, y_scale)}


def child_plain(task: Task, budget_s: float) -> dict:
    import keras

    _import_all()
    train, val, test, classes, y_scale = _setup(task)
    trajectory: list[dict] = []

    class Trajectory(keras.callbacks.Callback):
        """Test score after every epoch; the evaluation time is left out of the clock."""

        def __init__(self, start: float):
            super().__init__()
            self.start, self.paused = start, 0.0

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            elapsed = now - self.start - self.paused
            trajectory.append({"epoch": epoch + 1, "wall_s": elapsed,
                               "test": _scores(self.model, test, task, y_scale)})
            self.paused += time.perf_counter() - now
            if epoch + 1 >= task.epochs and elapsed >= budget_s:
                self.model.stop_training = True

    start = time.perf_counter()
    model = _build(task, train, classes)
    _compile(model, keras.optimizers.Adam(), task)
    model.fit(*train, epochs=max(task.epochs, 50 * task.epochs), batch_size=BATCH,
              verbose=0, shuffle=True, callbacks=[Trajectory(start)])
    return {"trajectory": trajectory}


def child_grid(task: Task) -> dict:
    import numpy as np

    from keras_recipes.lr_finder import SUGGESTION_RULES

    train, val, test, classes, y_scale = _setup(task)
    model = _build(task, train, classes)
    finder = _range_test(model, train, task)
    history = finder.history
    runs = {}
    lrs = list(GRID) + [v for v in finder.suggestions.values() if v]
    for lr in lrs:
        key = f"{lr:.4g}"
        if key in runs:
            continue
        model = _build(task, train, classes)
        fitted = _recipe_fit(model, train, val, task, lr)
        runs[key] = {"lr": lr, "kept_epoch": fitted["kept_epoch"],
                     "val": _scores(model, val, task, y_scale),
                     "test": _scores(model, test, task, y_scale)}
    curve = {c: [float(v) for v in history[c].to_numpy(dtype="float64")]
             for c in ("lr", "loss", "smoothed_loss")}
    return {"suggestions": finder.suggestions, "rules": sorted(SUGGESTION_RULES),
            "stop_reason": finder.stop_reason, "runs": runs, "curve": curve,
            "grid": [f"{lr:.4g}" for lr in GRID],
            "nan_free": bool(np.all(np.isfinite(curve["smoothed_loss"])))}


# -------------------------------------------------------------------------- parent side
def _child(mode: str, name: str, *extra: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg", RECIPE_RULE=RULE,
               RECIPE_KEEP=KEEP)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    cmd = [sys.executable, __file__, "--child", mode, "--tasks", name, *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise RuntimeError(f"child {mode} {name!r} failed")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t
    return out


def _matches(recipe: dict, plain: dict, task: Task, n_test: int) -> str:
    if task.regression:
        r, p = recipe["mse"], plain["mse"]
        return "beats" if r < p else ("matches" if r <= 1.02 * p else "worse")
    r, p = recipe["score"], plain["score"]
    return "beats" if r > p + 1e-12 else ("matches" if r >= p - 1.0 / n_test - 1e-12
                                          else "worse")


def compare(name: str) -> dict:
    task = TASKS[name]
    recipe = _child("recipe", name)
    plain = _child("plain", name, "--budget", str(recipe["wall_s"]))
    traj = plain["trajectory"]
    at_e = traj[task.epochs - 1]
    within = [p for p in traj if p["wall_s"] <= recipe["wall_s"]]
    equal = within[-1] if within else {"epoch": 0, "wall_s": 0.0, "test": None}
    n_test = _n_test(task)
    return {
        "task": name, "E": task.epochs, "model": f"{task.kind} {task.size}",
        "dropout": task.dropout, "regression": task.regression, "n_test": n_test,
        "plain": {"epochs": task.epochs, "wall_s": at_e["wall_s"], "test": at_e["test"],
                  "process_s": plain["process_s"]},
        "recipe": recipe,
        "plain_equal_time": equal,
        "plain_trajectory": [[p["epoch"], round(p["wall_s"], 2), p["test"]["score"]]
                             for p in traj],
        "verdict": _matches(recipe["test"], at_e["test"], task, n_test),
        "verdict_equal_time": ("no epoch fits" if equal["test"] is None else
                               _matches(recipe["test"], equal["test"], task, n_test)),
    }


def _n_test(task: Task) -> int:
    x, y, _ = _load(task)
    from keras_recipes.data import split

    return len(split(x, y, stratify=not task.regression, seed=0).test[0])


def grid(name: str) -> dict:
    out = _child("grid", name)
    best_key = max(out["grid"], key=lambda k: out["runs"][k]["val"]["score"])
    best = out["runs"][best_key]["val"]["score"]
    ratios = {}
    for rule, lr in out["suggestions"].items():
        if lr is None:
            ratios[rule] = None
            continue
        score = out["runs"][f"{lr:.4g}"]["val"]["score"]
        ratios[rule] = {"lr": lr, "val_score": score,
                        "ratio": score / best if best > 0 else float("nan")}
    out.update(task=name, best_lr=out["runs"][best_key]["lr"], best_val=best, ratios=ratios)
    return out


def _fmt(v, digits=4):
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else \
        f"{v:.{digits}f}"


def _score_cell(test: dict | None, regression: bool) -> str:
    if test is None:
        return "—"
    if regression:
        return f"MSE {test['mse']:.4g}, R² {test['score']:.3f}"
    return _fmt(test["score"])


def tables(results: dict) -> str:
    lines = ["| task | E | plain `Adam()`, E epochs: test (s) | recipe, E/2 epochs: test (s), "
             "peak lr | plain at the recipe's wall time: test (epochs) | recipe vs plain | "
             "vs plain at equal time |",
             "|---|---|---|---|---|---|---|"]
    for name in TASKS:
        r = results["compare"].get(name)
        if r is None:
            continue
        reg = r["regression"]
        lines.append(
            f"| {name} | {r['E']} | {_score_cell(r['plain']['test'], reg)} "
            f"({r['plain']['wall_s']:.1f}) | {_score_cell(r['recipe']['test'], reg)} "
            f"({r['recipe']['wall_s']:.1f}), {r['recipe']['lr']:.3g} | "
            f"{_score_cell(r['plain_equal_time']['test'], reg)} "
            f"({r['plain_equal_time']['epoch']}) | {r['verdict']} | "
            f"{r['verdict_equal_time']} |")
    rules = sorted({rule for g in results["grid"].values() for rule in g["ratios"]})
    lines += ["", "| task | grid best peak (val score) | "
              + " | ".join(f"{rule}: lr, ratio" for rule in rules) + " |",
              "|---|---|" + "---|" * len(rules)]
    for name in TASKS:
        g = results["grid"].get(name)
        if g is None:
            continue
        cells = []
        for rule in rules:
            q = g["ratios"].get(rule)
            cells.append("—" if q is None else f"{q['lr']:.3g}, {_fmt(q['ratio'], 3)}")
        lines.append(f"| {name} | {g['best_lr']:.3g} ({_fmt(g['best_val'], 4)}) | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--phase", choices=("all", "compare", "grid"), default="all")
    parser.add_argument("--child", choices=("recipe", "plain", "grid"))
    parser.add_argument("--budget", type=float, default=0.0)
    parser.add_argument("--out", type=pathlib.Path, default=RESULT,
                        help="result file (kept results are read from it too)")
    args = parser.parse_args()
    names = [n for n in args.tasks.split(",") if n]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {list(TASKS)}")
    if args.child:
        task = TASKS[names[0]]
        out = {"recipe": lambda: child_recipe(task),
               "plain": lambda: child_plain(task, args.budget),
               "grid": lambda: child_grid(task)}[args.child]()
        print(json.dumps(out))
        return

    out = args.out
    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("compare", {})
    results.setdefault("grid", {})
    load = os.getloadavg()
    begin = time.perf_counter()
    for name in names:
        if args.phase in ("all", "compare"):
            results["compare"][name] = compare(name)
            print(f"{name}: compare done ({time.perf_counter() - begin:.0f} s)", flush=True)
        if args.phase in ("all", "grid"):
            results["grid"][name] = grid(name)
            print(f"{name}: grid done ({time.perf_counter() - begin:.0f} s)", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    results.update(
        rule=RULE, keep=KEEP, grid_lrs=GRID, batch_size=BATCH, smoothing=SMOOTHING,
        weight_decay=WEIGHT_DECAY,
        backend=os.environ.get("KERAS_BACKEND", "tensorflow"),
        load_average_at_start=load, load_average_at_end=os.getloadavg(),
        seconds=time.perf_counter() - begin)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(tables(results))


if __name__ == "__main__":
    main()
