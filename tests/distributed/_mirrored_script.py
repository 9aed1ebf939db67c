"""Run the LR finder and every callback under MirroredStrategy on two logical CPU devices.

Executed in a fresh process by ``test_mirrored.py`` (the logical devices must be declared
before TensorFlow initialises its devices). Prints one JSON object of measurements on the
last line; the test compares them with NumPy references and single-device runs.

Every per-replica value is read here with TensorFlow's own API
(``strategy.experimental_local_results``), not with the library's helpers.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes import _distribute  # noqa: E402
from keras_recipes.callbacks import (  # noqa: E402
    ConvergenceStopping,
    EarlyStopping,
    GeneralizationGapStopping,
    HyperparameterScheduler,
    KeepBest,
    LearningRateMonitor,
    NaNGuard,
    PrecheltStopping,
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

STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def per_replica(variable) -> list:
    return [np.array(p.numpy()) for p in STRATEGY.experimental_local_results(variable.value)]


def state(model) -> list[list]:
    """Every model, metric and optimizer variable, one array per replica."""
    variables = list(model.variables) + list(model.metrics_variables)
    variables += list(model.optimizer.variables)
    return [per_replica(v) for v in variables]


def replicas_agree(model) -> bool:
    return all(
        all(r.tobytes() == values[0].tobytes() for r in values)
        for values in (per_replica(v) for v in model.weights)
    )


def mlp(optimizer, bn=False, scoped=True):
    layers = mlp_layers(bn)
    with STRATEGY.scope() if scoped else keras.name_scope("single"):
        model = keras.Sequential(layers)
        model.compile(optimizer=optimizer() if callable(optimizer) else optimizer,
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def range_test() -> dict:
    out = {}
    # 1. Per-batch losses with BatchNormalization in training mode, at rates too small to
    # move a float32 weight: each is the loss of one global batch split over the replicas.
    model = mlp(lambda: keras.optimizers.SGD(0.01), bn=True)
    with recording_clones(_probe) as created:
        result = find_lr(model, X, Y, min_lr=1e-12, max_lr=2e-12, num_steps=10,
                         batch_size=BATCH, shuffle=False, smoothing=0.5)
    out["tiny_losses"] = tolist(result.history["loss"])
    out["weights"] = [tolist(w) for w in model.get_weights()]
    out["num_replicas"] = _distribute.num_replicas(model)
    copy = created[0]
    out["copy_variables_mirrored"] = [
        isinstance(v.value, tf.distribute.DistributedValues)
        and len(STRATEGY.experimental_local_results(v.value)) == 2
        for v in copy.variables
    ]
    # The same first batch through fit (which splits it over the replicas).
    fit_model = mlp(lambda: keras.optimizers.SGD(1e-12), bn=True)
    history = fit_model.fit(X[:BATCH], Y[:BATCH], batch_size=BATCH, epochs=1, shuffle=False,
                            verbose=0)
    out["fit_first_loss"] = float(history.history["loss"][0])

    # 2. Bit-for-bit restore on every replica: success, divergence to NaN, an exception.
    model = mlp(lambda: keras.optimizers.Adam(1e-2), bn=True)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0)
    before = state(model)
    metric_totals = per_replica(model.metrics_variables[0])
    out["metric_replicas_differ"] = bool(metric_totals[0].tobytes() != metric_totals[1].tobytes())
    optimizer, train_function = model.optimizer, model.train_function
    result = find_lr(model, X_TR, Y_TR, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    out["restored_after_success"] = same_state(before, state(model))
    out["same_objects"] = model.optimizer is optimizer and model.train_function is train_function
    out["success_stop_reason"] = result.stop_reason
    stable = find_max_stable_lr(model, X_TR, Y_TR, candidates=(1e9, 1e-2), steps=8,
                                batch_size=BATCH)
    out["max_stable_statuses"] = stable.table["status"].tolist()
    out["max_stable_lr"] = stable.lr
    out["restored_after_divergence"] = same_state(before, state(model))

    try:
        find_lr(model, failing_source(), min_lr=1e-2, max_lr=10.0, num_steps=20)
        out["exception_raised"] = False
    except RuntimeError:
        out["exception_raised"] = True
    out["restored_after_exception"] = same_state(before, state(model))
    try:
        find_lr(model, X_TR, Y_TR, batch_size=1, num_steps=10)
        out["tiny_batch_error"] = ""
    except ValueError as exc:
        out["tiny_batch_error"] = str(exc)
    out["restored_after_tiny_batch"] = same_state(before, state(model))

    # 3. The callback: range test at on_train_begin, then fit at the suggestion.
    model = mlp(lambda: keras.optimizers.SGD(1e-3))
    finder = LRFinder(X_TR, Y_TR, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0, callbacks=[finder])
    out["finder_applied"] = finder.applied_lr
    out["finder_suggestion"] = finder.result.suggestion
    out["finder_lr_after"] = float(np.asarray(model.optimizer.learning_rate))
    out["finder_replicas_agree"] = replicas_agree(model)
    return out


class EpochWeights(keras.callbacks.Callback):
    """Per-replica weights and optimizer variables at each epoch end; blows up the LR."""

    def __init__(self, explode_at=None):
        super().__init__()
        self.explode_at = explode_at
        self.weights, self.optimizer = {}, {}

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.explode_at:
            self.model.optimizer.learning_rate.assign(1e30)

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [per_replica(v) for v in self.model.weights]
        self.optimizer[epoch] = [per_replica(v) for v in self.model.optimizer.variables]


def callbacks_fit(scoped: bool) -> dict:
    """Every callback in one fit (two replicas, or one device for the reference)."""
    epochs, steps = 3, len(X_TR) // BATCH
    lr = OneCycle(0.05, total_steps=epochs * steps)
    model = mlp(lambda: keras.optimizers.SGD(lr, momentum=0.95), scoped=scoped)
    snapshots = SnapshotEnsemble(cycle_steps=steps)
    keep = KeepBest(monitor="val_loss")
    callbacks = [
        HyperparameterScheduler({"momentum": lr.momentum_schedule()}),
        LearningRateMonitor(),
        ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0, factor=0.5),
        keep,
        snapshots,
        TimeBudget(seconds=1e6),
        ConvergenceStopping(monitor="loss", window=5),
        GeneralizationGapStopping(max_gap=100.0),
        PrecheltStopping(criterion="GL", alpha=1e6),
        EarlyStopping(monitor="val_loss", patience=10),
        NaNGuard(),
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
        "epochs_run": len(history.epoch),
    }
    if scoped:
        out["replicas_agree"] = replicas_agree(model)
        ensemble = snapshots.ensemble()
        out["ensemble_mirrored"] = all(
            isinstance(v.value, tf.distribute.DistributedValues) for v in ensemble.weights)
    return out


def stopping() -> dict:
    out = {}
    # NaNGuard: the learning rate explodes at epoch 1; the guard puts back epoch 0's end.
    model = mlp(lambda: keras.optimizers.SGD(0.01, momentum=0.9))
    guard, recorder = NaNGuard(), EpochWeights(explode_at=1)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=4, verbose=0, callbacks=[guard, recorder])
    out["nan_stop_reason"] = guard.stop_reason.value
    out["nan_stopped_epoch"] = guard.stopped_epoch
    now = [per_replica(v) for v in model.weights]
    out["nan_weights_restored"] = same_state(recorder.weights[0], now)
    now_opt = [per_replica(v) for v in model.optimizer.variables]
    out["nan_optimizer_restored"] = same_state(recorder.optimizer[0], now_opt)
    # EarlyStopping and TimeBudget: one stop decision, taken once for all replicas.
    model = mlp(lambda: keras.optimizers.SGD(0.05))
    stopper, recorder = EarlyStopping(monitor="loss", min_delta=10.0, patience=1), EpochWeights()
    budget = TimeBudget(seconds=1e6)
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=5, verbose=0,
                        callbacks=[stopper, budget, recorder])
    out["early_epochs_run"] = len(history.epoch)
    out["early_stop_reason"] = stopper.stop_reason.value
    out["early_best_epoch"] = stopper.best_epoch
    now = [per_replica(v) for v in model.weights]
    out["early_restored_best"] = same_state(recorder.weights[stopper.best_epoch], now)
    budget = TimeBudget(seconds=1e-9)
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=5, verbose=0, callbacks=[budget])
    out["budget_epochs_run"] = len(history.epoch)
    out["budget_replicas_agree"] = replicas_agree(model)
    return out


def main() -> None:
    results = {
        "replicas": STRATEGY.num_replicas_in_sync,
        "x": tolist(X),
        "y": Y.tolist(),
        "range_test": range_test(),
        "callbacks_mirrored": callbacks_fit(scoped=True),
        "callbacks_single": callbacks_fit(scoped=False),
        "stopping": stopping(),
    }
    sys.stdout.write("\n" + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
