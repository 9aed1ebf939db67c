"""One worker of a two-process ``MultiWorkerMirroredStrategy`` run on 127.0.0.1.

``python -m tests.distributed._multiworker_script INDEX PORTS_JSON OUT``, started twice
(INDEX 0 and 1) by ``test_multiworker.py``. The strategy is created first (before any
other TensorFlow work), through ``_distribute.setup("multiworker")``, which the
steamroller reuses. Runs the range test, a fit with the stopping callbacks and the
diagnostic logger (each worker with its own clock and its own ``log_dir``), and the
steamroller twice (a run, then a resumed no-op). Prints one JSON object on the last line;
the test compares the two workers' objects and NumPy references.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import sys

INDEX, PORTS, OUT = int(sys.argv[1]), json.loads(sys.argv[2]), pathlib.Path(sys.argv[3])
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"127.0.0.1:{port}" for port in PORTS]},
    "task": {"type": "worker", "index": INDEX},
})

from keras_recipes import _distribute  # noqa: E402

SETUP = _distribute.setup("multiworker")
STRATEGY = SETUP.strategy

import keras  # noqa: E402

keras.config.disable_traceback_filtering()
import numpy as np  # noqa: E402

from keras_recipes.callbacks import EarlyStopping, KeepBest, NaNGuard, TimeBudget  # noqa: E402
from keras_recipes.diagnostics import DiagnosticLogger  # noqa: E402
from keras_recipes.lr_finder import LRFinder, find_lr, find_max_stable_lr  # noqa: E402
from keras_recipes.workflows import steamroller  # noqa: E402

BATCH = 32  # global batch: 16 examples per worker
RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 8)).astype("float32")
Y = (X[:, :3] @ np.array([1.0, -1.0, 0.5], "float32") > 0).astype("int32") + (
    X[:, 3] > 1.0).astype("int32")


def mlp(optimizer, bn=False):
    """A small MLP built and compiled in the strategy's scope (``optimizer`` a factory)."""
    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,)), keras.layers.Dense(16)]
    if bn:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.Activation("relu"), keras.layers.Dense(3, activation="softmax")]
    with STRATEGY.scope():
        model = keras.Sequential(layers)
        model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def digest(model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def tolist(a) -> list:
    return np.asarray(a, dtype="float64").tolist()


def range_test() -> dict:
    model = mlp(lambda: keras.optimizers.SGD(0.01), bn=True)
    before = digest(model)
    tiny = find_lr(model, X, Y, min_lr=1e-12, max_lr=2e-12, num_steps=10, batch_size=BATCH,
                   shuffle=False, smoothing=0.5)
    weights = [tolist(w) for w in model.get_weights()]
    sweep = find_lr(model, X, Y, min_lr=1e-4, max_lr=100.0, num_steps=40, batch_size=BATCH,
                    seed=0)
    restored = digest(model) == before
    # A candidate that diverges (1e9) and one that does not, from the same start.
    stable = find_max_stable_lr(model, X, Y, candidates=(1e9, 1e-2), steps=8,
                                batch_size=BATCH)
    # The callback: range test at on_train_begin, then fit at the suggestion.
    fitted = mlp(lambda: keras.optimizers.SGD(1e-3))
    finder = LRFinder(X, Y, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    fitted.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[finder])
    return {"tiny_losses": tolist(tiny.history["loss"]), "weights": weights,
            "sweep_losses": tolist(sweep.history["loss"]),
            "sweep_steps": len(sweep.history["loss"]),
            "suggestion": sweep.suggestion, "restored": restored,
            "max_stable_statuses": stable.table["status"].tolist(),
            "max_stable_lr": stable.lr, "restored_after_max_stable": digest(model) == before,
            "finder_applied": finder.applied_lr,
            "finder_lr_after": float(np.asarray(fitted.optimizer.learning_rate)),
            "finder_digest": digest(fitted),
            "replicas": _distribute.num_replicas(model)}


def callbacks_fit() -> dict:
    model = mlp(lambda: keras.optimizers.Adam(1e-2))
    # Worker 1's clock says the budget is spent after the first epoch, worker 0's does not:
    # both must stop after that epoch, or worker 0 would wait forever for worker 1.
    budget = TimeBudget(seconds=1e-9 if INDEX == 1 else 1e6)
    logger = DiagnosticLogger(probe=(X[:64], Y[:64]), log_dir=OUT / f"diag{INDEX}")
    history = model.fit(X, Y, batch_size=BATCH, epochs=4, verbose=0, validation_data=(X, Y),
                        callbacks=[logger, NaNGuard(), KeepBest(), EarlyStopping(patience=1),
                                   budget])
    frame = logger.frame
    probe = frame[(frame["layer"] == "model") & (frame["stat"] == "probe_loss")]
    return {"epochs_run": len(history.epoch), "budget_reason": budget.stop_reason.value,
            "digest": digest(model), "weights": [tolist(w) for w in model.get_weights()],
            "probe_loss": tolist(probe["value"].to_numpy()),
            "diag_files": sorted(p.name for p in (OUT / f"diag{INDEX}").rglob("*")
                                 if p.is_file()),
            "is_chief": _distribute.is_chief(model)}


def run_steamroller() -> dict:
    out = OUT / "run"
    results = {}
    for attempt in ("first", "again"):
        stream = io.StringIO()
        report = steamroller("digits", "mlp", out=out, seed=0, stage1_epochs=5,
                             stage2_epochs=1, stage3_epochs=1, lr_finder_steps=10,
                             stage1_min_train_accuracy=0.5, stage2_min_val_accuracy=0.5,
                             distribute="multiworker", stream=stream)
        results[attempt] = {"status": report.summary["status"],
                            "test_accuracy": report.summary.get("test_accuracy"),
                            "distribute": report.summary.get("distribute"),
                            "log": stream.getvalue()[-2000:]}
    results["leftover_tmp"] = sorted(p.name for p in pathlib.Path(os.environ["TMPDIR"])
                                     .glob("steamroller-stage*"))
    return results


def main() -> None:
    parts = {"range_test": range_test, "callbacks": callbacks_fit,
             "steamroller": run_steamroller}
    # MULTIWORKER_PARTS (comma-separated) runs a subset, to look into one part alone.
    chosen = os.environ.get("MULTIWORKER_PARTS", ",".join(parts)).split(",")
    result = {"index": INDEX, "chief": SETUP.is_chief, "replicas": SETUP.num_replicas}
    result.update({name: parts[name]() for name in chosen})
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
