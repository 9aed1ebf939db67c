"""Does the README's learning-rate recipe help on code this project did not write?

Each other file of this folder is a public Keras example script (its source named at the
top), with its download swapped for offline data (:mod:`_data`) and everything else kept:
model, optimizer, loss, batch size, epochs, validation split. For each script and seed:

- **unchanged**: the script as it is;
- **recipe** (one per suggestion rule): what the README teaches a user to add. A range
  test on the compiled model, ``find_lr(model, x, y, batch_size=the script's)`` with its
  defaults, then the same optimizer class and configuration with
  ``learning_rate=OneCycle(max_lr=suggestion, total_steps=epochs × steps per epoch)``,
  trained for the script's own epochs. When the range test is inconclusive (no
  suggestion: its loss never fell below the best constant prediction's), the recipe keeps
  the script's optimizer and rate, as ``find_lr``'s warning says.

Both start from the same initial weights (``keras.utils.set_random_seed(seed)`` before
building). The range test runs once per seed; each rule's suggestion is read from it.
Scores are the script's test metric: accuracy (higher is better) or an error (MAE, lower).

A recipe **matches** the unchanged script when its mean over the seeds is no worse than the
unchanged mean by more than the unchanged runs' standard deviation (the seed-to-seed
spread), and **beats** it when strictly better.

Writes ``benchmarks/results/real_scripts.json`` (merged per script) and prints a Markdown
table. Run: ``.venv/bin/python benchmarks/real_scripts/panel.py`` (all scripts, 3 seeds,
rules valley, combined and minimum; each script in a fresh process), or
``--scripts keras_mnist_mlp --seeds 0 --rules combined`` for a part.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULT = ROOT / "benchmarks" / "results" / "real_scripts.json"
SCRIPTS = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in ("panel", "_data"))
LOWER_IS_BETTER = ("mae", "loss", "mse")


def _steps(n: int, batch: int, fit: dict) -> int:
    used = n - int(n * fit.get("validation_split", 0.0))
    return math.ceil(used / batch)


def run_script(name: str, seeds: list[int], rules: list[str]) -> dict:
    """Every variant of one script, in this process."""
    sys.path.insert(0, str(HERE))
    import keras

    from keras_recipes.lr_finder import find_lr
    from keras_recipes.schedules import OneCycle

    script = importlib.import_module(name)
    (x, y), (x_test, y_test) = script.data()
    out = {"source": script.SOURCE, "score": script.SCORE, "epochs": script.EPOCHS,
           "batch_size": script.BATCH_SIZE, "unchanged": [], "seconds": {},
           **{r: [] for r in rules}, **{f"{r}_lr": [] for r in rules}}

    def evaluate(model):
        values = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
        return float(values[script.SCORE])

    def train(model, opt):
        model.compile(optimizer=opt, **script.compile_kwargs())
        model.fit(x, y, batch_size=script.BATCH_SIZE, epochs=script.EPOCHS, verbose=0,
                  **script.FIT)
        return evaluate(model)

    total = script.EPOCHS * _steps(len(x), script.BATCH_SIZE, script.FIT)
    for seed in seeds:
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        out["unchanged"].append(train(script.model(), script.optimizer()))
        out["seconds"].setdefault("unchanged", []).append(time.perf_counter() - start)
        keras.utils.set_random_seed(seed)
        model = script.model()
        model.compile(optimizer=script.optimizer(), **script.compile_kwargs())
        result = find_lr(model, x, y, batch_size=script.BATCH_SIZE, seed=seed)
        weights = [w.numpy() if hasattr(w, "numpy") else w for w in model.get_weights()]
        for rule in rules:
            start = time.perf_counter()
            lr = result.suggestions.get(rule)
            out[f"{rule}_lr"].append(lr)
            keras.utils.set_random_seed(seed)
            model = script.model()
            model.compile(optimizer=script.optimizer(), **script.compile_kwargs())
            if not model.built:  # a Sequential without an Input layer (KerasTuner's guide)
                model.build((None, *x.shape[1:]))
            model.set_weights(weights)
            if lr is None:
                # An inconclusive range test: the README says to keep the script's rate.
                opt = script.optimizer()
            else:
                config = script.optimizer().get_config()
                config["learning_rate"] = OneCycle(max_lr=lr, total_steps=total)
                opt = type(script.optimizer()).from_config(config)
            out[rule].append(train(model, opt))
            out["seconds"].setdefault(rule, []).append(time.perf_counter() - start)
        print(f"{name} seed {seed}: unchanged {out['unchanged'][-1]:.4g}, " + ", ".join(
            f"{r} {out[r][-1]} (lr {out[f'{r}_lr'][-1]})" for r in rules), flush=True)
    return out


def _mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    m = sum(values) / len(values)
    s = (sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)) ** 0.5
    return m, s


def verdict(result: dict, rule: str) -> str:
    base, spread = _mean_std(result["unchanged"])
    mean, _ = _mean_std(result.get(rule, []))
    if base is None or mean is None or None in result.get(rule, []):
        return "loses"
    lower = result["score"] in LOWER_IS_BETTER
    gain = (base - mean) if lower else (mean - base)
    if gain > 0:
        return "beats"
    return "matches" if -gain <= spread else "loses"


def table(results: dict, rules: list[str]) -> str:
    head = ("| script | score | seeds | unchanged (mean ± sd) | " + " | ".join(rules) + " |")
    lines = [head, "|" + "---|" * (4 + len(rules))]
    counts = {r: {"beats": 0, "matches": 0, "loses": 0} for r in rules}
    for name, res in sorted(results.items()):
        base, spread = _mean_std(res["unchanged"])
        cells = []
        for r in rules:
            mean, _ = _mean_std(res.get(r, []))
            v = verdict(res, r)
            counts[r][v] += 1
            lrs = [x for x in res.get(f"{r}_lr", []) if x]
            lr = f", lr {min(lrs):.2g}–{max(lrs):.2g}" if lrs else ""
            kept = sum(x is None for x in res.get(f"{r}_lr", []))
            lr += f", {kept} inconclusive: own rate" if kept else ""
            cells.append(f"{mean:.4g} ({v}{lr})" if mean is not None else "failed")
        seeds = len(res.get("unchanged", []))
        lines.append(f"| {name} | {res['score']} | {seeds} | {base:.4g} ± {spread:.2g} | "
                     + " | ".join(cells) + " |")
    lines.append("| **beats / matches / loses** | | | | " + " | ".join(
        f"{c['beats']} / {c['matches']} / {c['loses']}" for c in counts.values()) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", default=",".join(SCRIPTS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rules", default="valley,combined,minimum")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one script in this process
    parser.add_argument("--out", default=str(RESULT))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rules = args.rules.split(",")
    if args.one:
        print("RESULT " + json.dumps(run_script(args.one, seeds, rules)), flush=True)
        return 0
    out = pathlib.Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {"scripts": {}}
    for name in args.scripts.split(","):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run(
            [sys.executable, __file__, "--one", name, "--seeds", args.seeds, "--rules",
             args.rules], capture_output=True, text=True, env=env, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{name}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        print("\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("RESULT")))
        record["scripts"][name] = {**json.loads(lines[-1][len("RESULT "):]), "seeds": seeds}
        record.pop("seeds", None)  # seeds are per script
        record.update(date=datetime.date.today().isoformat(), machine=(
            f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"),
            backend=os.environ.get("KERAS_BACKEND", "tensorflow"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
    print(table(record["scripts"], rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
