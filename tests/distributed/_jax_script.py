"""Run the LR finder and the callbacks under keras.distribution.DataParallel on JAX.

Executed in a fresh process by ``test_jax_data_parallel.py`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (read when JAX starts). Prints one
JSON object of measurements on the last line. Per-device values are read with JAX's own
API (``array.addressable_shards``), not with the library's helpers.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes import _distribute  # noqa: E402
from keras_recipes.callbacks import (  # noqa: E402
    EarlyStopping,
    HyperparameterScheduler,
    KeepBest,
    LearningRateMonitor,
    NaNGuard,
    ReduceLROnPlateau,
    SnapshotEnsemble,
    TimeBudget,
)
from keras_recipes.lr_finder import LRFinder, _probe, find_lr, find_max_stable_lr  # noqa: E402
from keras_recipes.schedules import OneCycle  # noqa: E402
from tests.distributed._common import (  # noqa: E402
    BATCH,
    X_TR,
    X_VAL,
    Y_TR,
    Y_VAL,
    X,
    Y,
    failing_source,
    mlp_layers,
    recording_clones,
    same_state,
    tolist,
)

DEVICES = jax.devices("cpu")
DATA_PARALLEL = keras.distribution.DataParallel(devices=DEVICES)


def per_device(variable) -> list:
    return [np.array(shard.data) for shard in variable.value.addressable_shards]


def spans_both(variable) -> bool:
    return len(variable.value.sharding.device_set) == len(DEVICES)


def state(model) -> list[list]:
    variables = list(model.variables) + list(model.metrics_variables)
    variables += list(model.optimizer.variables)
    return [per_device(v) for v in variables]


def all_span_both(model) -> bool:
    variables = list(model.variables) + list(model.optimizer.variables)
    return all(spans_both(v) for v in variables)


def devices_agree(model) -> bool:
    return all(all(r.tobytes() == vals[0].tobytes() for r in vals)
               for vals in (per_device(v) for v in model.weights))


def mlp(optimizer, bn=False, distributed=True):
    layers = mlp_layers(bn)
    keras.distribution.set_distribution(DATA_PARALLEL if distributed else None)
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def range_test() -> dict:
    out = {}
    model = mlp(lambda: keras.optimizers.SGD(0.01), bn=True)
    with recording_clones(_probe) as created:
        result = find_lr(model, X, Y, min_lr=1e-12, max_lr=2e-12, num_steps=10,
                         batch_size=BATCH, shuffle=False, smoothing=0.5)
    out["tiny_losses"] = tolist(result.history["loss"])
    out["weights"] = [tolist(w) for w in model.get_weights()]
    out["copy_variables_span_both"] = [spans_both(v) for v in created[0].variables]
    out["num_replicas"] = _distribute.num_replicas(model)
    fit_model = mlp(lambda: keras.optimizers.SGD(1e-12), bn=True)
    history = fit_model.fit(X[:BATCH], Y[:BATCH], batch_size=BATCH, epochs=1, shuffle=False,
                            verbose=0)
    out["fit_first_loss"] = float(history.history["loss"][0])

    model = mlp(lambda: keras.optimizers.Adam(1e-2), bn=True)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0)
    before = state(model)
    find_lr(model, X_TR, Y_TR, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    out["restored_after_success"] = same_state(before, state(model))
    out["layouts_kept"] = all_span_both(model)
    stable = find_max_stable_lr(model, X_TR, Y_TR, candidates=(1e9, 1e-2), steps=8,
                                batch_size=BATCH)
    out["max_stable_statuses"] = stable.table["status"].tolist()
    out["restored_after_divergence"] = same_state(before, state(model))

    try:
        find_lr(model, failing_source(), min_lr=1e-2, max_lr=10.0, num_steps=20)
        out["exception_raised"] = False
    except RuntimeError:
        out["exception_raised"] = True
    out["restored_after_exception"] = same_state(before, state(model))
    # Training goes on from the restored, still distributed, model.
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0)
    out["fit_after_finite"] = bool(np.isfinite(history.history["loss"][0]))

    model = mlp(lambda: keras.optimizers.SGD(1e-3))
    finder = LRFinder(X_TR, Y_TR, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0, callbacks=[finder])
    out["finder_applied"] = finder.applied_lr
    out["finder_lr_after"] = float(np.asarray(model.optimizer.learning_rate))
    out["finder_devices_agree"] = devices_agree(model)
    return out


class EpochWeights(keras.callbacks.Callback):
    def __init__(self, explode_at=None):
        super().__init__()
        self.explode_at, self.weights = explode_at, {}

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.explode_at:
            self.model.optimizer.learning_rate.assign(1e30)

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [np.array(w) for w in self.model.get_weights()]


def callbacks_fit(distributed: bool) -> dict:
    epochs, steps = 3, len(X_TR) // BATCH
    lr = OneCycle(0.05, total_steps=epochs * steps)
    model = mlp(lambda: keras.optimizers.SGD(lr, momentum=0.95), distributed=distributed)
    keep, snapshots = KeepBest(monitor="val_loss"), SnapshotEnsemble(cycle_steps=steps)
    callbacks = [
        HyperparameterScheduler({"momentum": lr.momentum_schedule()}),
        LearningRateMonitor(),
        ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0, factor=0.5),
        keep, snapshots, TimeBudget(seconds=1e6), EarlyStopping(patience=10), NaNGuard(),
    ]
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                        validation_data=(X_VAL, Y_VAL), callbacks=callbacks)
    out = {
        "lr": history.history["lr"],
        "momentum": history.history["momentum"],
        "loss": history.history["loss"],
        "weights": [tolist(w) for w in model.get_weights()],
        "best_epoch": keep.best_epoch,
        "snapshot_steps": snapshots.snapshot_steps,
    }
    if distributed:
        out["devices_agree"] = devices_agree(model)
        out["layouts_kept"] = all_span_both(model)
    return out


def stopping() -> dict:
    out = {}
    model = mlp(lambda: keras.optimizers.SGD(0.01, momentum=0.9))
    guard, recorder = NaNGuard(), EpochWeights(explode_at=1)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=4, verbose=0, callbacks=[guard, recorder])
    out["nan_stop_reason"] = guard.stop_reason.value
    out["nan_restored"] = all(
        all(shard.tobytes() == kept.tobytes() for shard in per_device(v))
        for v, kept in zip(model.weights, recorder.weights[0], strict=True))
    out["nan_layouts_kept"] = all_span_both(model)
    model = mlp(lambda: keras.optimizers.SGD(0.05))
    stopper, recorder = EarlyStopping(monitor="loss", min_delta=10.0, patience=1), EpochWeights()
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=5, verbose=0,
                        callbacks=[stopper, recorder])
    out["early_epochs_run"] = len(history.epoch)
    out["early_restored_best"] = all(
        all(shard.tobytes() == kept.tobytes() for shard in per_device(v))
        for v, kept in zip(model.weights, recorder.weights[stopper.best_epoch], strict=True))
    return out


def main() -> None:
    results = {
        "devices": len(DEVICES),
        "x": tolist(X),
        "y": Y.tolist(),
        "range_test": range_test(),
        "callbacks_distributed": callbacks_fit(distributed=True),
        "callbacks_single": callbacks_fit(distributed=False),
        "stopping": stopping(),
    }
    sys.stdout.write("\n" + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
