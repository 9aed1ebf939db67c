"""Benchmark: the steamroller's stage 3 against plain Keras on several splits of digits.

For each seed (the split and the weights), in this process:

1. plain Keras: the stage-3 "big" MLP preset (hidden (256, 256), dropout 0.1, raw inputs),
   ``Adam()``, batch 32, 20 epochs;
2. stage 3 with the steamroller's defaults (growth, standardisation, range test, one-cycle,
   augmentation, the last epoch kept), run alone with
   :func:`keras_recipes.workflows.steamroller.runner.run_stage`;
3. the same stage keeping the epoch of lowest validation loss (``KeepBest(val_loss)``), the
   earlier default: one field of the ``Stage`` replaced.

Prints test errors per seed and writes ``benchmarks/results/stage3_seeds.json``.

    python benchmarks/stage3_seeds.py [--seeds 0 1 2 3 4 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "stage3_seeds.json"


def _errors(model, test) -> int:
    import numpy as np

    predicted = np.argmax(model.predict(test[0], verbose=0), axis=1)
    return int(np.sum(predicted != test[1]))


def _plain(seed: int) -> dict:
    import keras

    from keras_recipes.data import load_dataset, split
    from keras_recipes.workflows.common import build_network

    begin = time.perf_counter()
    keras.utils.set_random_seed(seed)
    ds = load_dataset("digits")
    train, val, test = split(ds.x, ds.y, seed=seed)
    model = build_network("mlp", ds.input_shape, ds.num_classes, size=1, dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(*train, validation_data=val, epochs=20, batch_size=32, verbose=0)
    return {"errors": _errors(model, test), "test_size": len(test[1]),
            "seconds": round(time.perf_counter() - begin, 1)}


def _keep_best(config):
    from keras_recipes.callbacks import KeepBest

    return KeepBest(monitor="val_loss", catch_interrupt=False), "KeepBest(val_loss)"


def _stage3(seed: int, keep_best: bool) -> dict:
    from keras_recipes.data import load_dataset
    from keras_recipes.workflows import STEAMROLLER_STAGES, SteamrollerConfig, plan_stages
    from keras_recipes.workflows.steamroller.runner import run_stage

    begin = time.perf_counter()
    ds = load_dataset("digits")
    plan = plan_stages(ds.x, ds.y, ds.class_names, seed=seed)
    stage = STEAMROLLER_STAGES[2]
    if keep_best:
        stage = dataclasses.replace(stage, stopper=_keep_best)
    with tempfile.TemporaryDirectory() as folder:
        config = SteamrollerConfig(out=Path(folder) / "run", seed=seed, verbose=0)
        _, model, _ = run_stage(stage, config, plan[2], Path(folder), "stage3",
                                standardize_on=plan[2].train[0])
    return {"errors": _errors(model, plan[2].test), "test_size": len(plan[2].test[1]),
            "seconds": round(time.perf_counter() - begin, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        row = {"seed": seed, "plain_keras": _plain(seed),
               "stage3_last_epoch": _stage3(seed, keep_best=False),
               "stage3_best_val_loss": _stage3(seed, keep_best=True)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    names = ("plain_keras", "stage3_last_epoch", "stage3_best_val_loss")
    print("| run | " + " | ".join(str(r["seed"]) for r in rows) + " | total |")
    print("|---|" + "---|" * (len(rows) + 1))
    for name in names:
        errors = [r[name]["errors"] for r in rows]
        print(f"| {name} | " + " | ".join(map(str, errors)) + f" | {sum(errors)} |")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
