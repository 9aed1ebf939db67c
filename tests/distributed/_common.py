"""What the two data-parallel scripts share: the data, the model, state comparisons.

`_jax_script.py` and `_mirrored_script.py` run the same measurements under JAX's
`DataParallel` and TensorFlow's `MirroredStrategy`. Only NumPy is imported here at module
level: each script sets its backend and its devices up before Keras is imported.
"""

from __future__ import annotations

import contextlib

import numpy as np

BATCH = 32  # global batch: 16 examples per device
RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 8)).astype("float32")
Y = (X[:, :3] @ np.array([1.0, -1.0, 0.5], "float32") > 0).astype("int32") + (
    X[:, 3] > 1.0).astype("int32")
X_TR, Y_TR, X_VAL, Y_VAL = X[:192], Y[:192], X[192:], Y[192:]


def tolist(a) -> list:
    return np.asarray(a, dtype="float64").tolist()


def same_state(a, b) -> bool:
    """Two lists of per-device arrays, equal bit for bit."""
    return len(a) == len(b) and all(
        len(ra) == len(rb) and all(x.tobytes() == y.tobytes() for x, y in zip(ra, rb, strict=True))
        for ra, rb in zip(a, b, strict=True)
    )


def mlp_layers(bn: bool) -> list:
    """Dense(16) → [BatchNormalization] → ReLU → Dense(3, softmax) on 8 inputs, seed 0."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,)), keras.layers.Dense(16)]
    if bn:
        layers.append(keras.layers.BatchNormalization())
    return layers + [keras.layers.Activation("relu"), keras.layers.Dense(3, activation="softmax")]


@contextlib.contextmanager
def recording_clones(probe):
    """Collect, in a list, the optimizer copies the LR finder's `probe` module makes."""
    created = []
    original = probe.clone_optimizer

    def recording_clone(optimizer, lr):
        created.append(original(optimizer, lr))
        return created[-1]

    probe.clone_optimizer = recording_clone
    try:
        yield created
    finally:
        probe.clone_optimizer = original


def failing_source():
    """Three training batches, then the data source fails."""
    for i in range(3):
        yield X_TR[BATCH * i:BATCH * (i + 1)], Y_TR[BATCH * i:BATCH * (i + 1)]
    raise RuntimeError("data source failed")


def assert_trains_as_on_one_device(two: dict, one: dict) -> None:
    """The callbacks' fit on two devices follows the one-device fit."""
    np.testing.assert_allclose(two["lr"], one["lr"], rtol=1e-6)
    np.testing.assert_allclose(two["momentum"], one["momentum"], rtol=1e-6)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    for a, b in zip(two["weights"], one["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert two["best_epoch"] == one["best_epoch"]
    assert two["snapshot_steps"] == one["snapshot_steps"] == [6, 12, 18]


# ---------------------------------------------------------------- the measurements both run
# `per_device(variable)` reads one variable as a list of arrays, one per device, with the
# backend's own API; `mlp(optimizer, bn=False, distributed=True)` builds and compiles the
# model under the script's distribution (or on one device).


def state(model, per_device) -> list[list]:
    """Every model, metric and optimizer variable, one array per device."""
    variables = list(model.variables) + list(model.metrics_variables)
    variables += list(model.optimizer.variables)
    return [per_device(v) for v in variables]


def devices_agree(model, per_device) -> bool:
    """Every weight holds the same bytes on every device."""
    return all(all(r.tobytes() == values[0].tobytes() for r in values)
               for values in (per_device(v) for v in model.weights))


def tiny_rate_range_test(mlp, copy_distributed) -> dict:
    """A range test at rates too small to move a float32 weight, with BatchNormalization in
    training mode, and the same first batch through ``fit``; ``copy_distributed(variable)``
    tells whether a variable of the finder's optimizer copy lies on every device."""
    import keras

    from keras_recipes import _distribute
    from keras_recipes.lr_finder import _probe, find_lr

    out = {}
    model = mlp(lambda: keras.optimizers.SGD(0.01), bn=True)
    with recording_clones(_probe) as created:
        result = find_lr(model, X, Y, min_lr=1e-12, max_lr=2e-12, num_steps=10,
                         batch_size=BATCH, shuffle=False, smoothing=0.5)
    out["tiny_losses"] = tolist(result.history["loss"])
    out["weights"] = [tolist(w) for w in model.get_weights()]
    out["num_replicas"] = _distribute.num_replicas(model)
    out["copy_variables_distributed"] = [copy_distributed(v) for v in created[0].variables]
    fit_model = mlp(lambda: keras.optimizers.SGD(1e-12), bn=True)
    history = fit_model.fit(X[:BATCH], Y[:BATCH], batch_size=BATCH, epochs=1, shuffle=False,
                            verbose=0)
    out["fit_first_loss"] = float(history.history["loss"][0])
    return out


def restore_checks(model, per_device) -> dict:
    """Bit-for-bit restore of ``model`` (trained, distributed) on every device after a range
    test that succeeds, one that diverges (``find_max_stable_lr``) and one that raises."""
    from keras_recipes.lr_finder import find_lr, find_max_stable_lr

    out = {}
    before = state(model, per_device)
    optimizer, train_function = model.optimizer, model.train_function
    result = find_lr(model, X_TR, Y_TR, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    out["restored_after_success"] = same_state(before, state(model, per_device))
    out["same_objects"] = model.optimizer is optimizer and model.train_function is train_function
    out["success_stop_reason"] = result.stop_reason
    stable = find_max_stable_lr(model, X_TR, Y_TR, candidates=(1e9, 1e-2), steps=8,
                                batch_size=BATCH)
    out["max_stable_statuses"] = stable.table["status"].tolist()
    out["max_stable_lr"] = stable.lr
    out["restored_after_divergence"] = same_state(before, state(model, per_device))
    try:
        find_lr(model, failing_source(), min_lr=1e-2, max_lr=10.0, num_steps=20)
        out["exception_raised"] = False
    except RuntimeError:
        out["exception_raised"] = True
    out["restored_after_exception"] = same_state(before, state(model, per_device))
    return out


def finder_callback(mlp, per_device) -> dict:
    """`LRFinder` runs its range test at ``on_train_begin``, then ``fit`` goes on at the
    suggestion."""
    import keras

    from keras_recipes.lr_finder import LRFinder

    model = mlp(lambda: keras.optimizers.SGD(1e-3))
    finder = LRFinder(X_TR, Y_TR, min_lr=1e-4, max_lr=1.0, num_steps=12, batch_size=BATCH)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0, callbacks=[finder])
    return {
        "finder_applied": finder.applied_lr,
        "finder_suggestion": finder.result.suggestion,
        "finder_lr_after": float(np.asarray(model.optimizer.learning_rate)),
        "finder_agree": devices_agree(model, per_device),
    }


def epoch_recorder(per_device, explode_at=None):
    """A callback keeping each epoch's weights and optimizer variables, one array per
    device; at epoch ``explode_at`` it sets the learning rate to 1e30."""
    import keras

    class EpochWeights(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights, self.optimizer = {}, {}

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == explode_at:
                self.model.optimizer.learning_rate.assign(1e30)

        def on_epoch_end(self, epoch, logs=None):
            self.weights[epoch] = [per_device(v) for v in self.model.weights]
            self.optimizer[epoch] = [per_device(v) for v in self.model.optimizer.variables]

    return EpochWeights()


def callbacks_fit(mlp, distributed: bool, per_device) -> tuple[dict, object, object]:
    """Every callback in one fit (on every device, or on one for the reference):
    (measurements, the model, the SnapshotEnsemble)."""
    import keras

    from keras_recipes.callbacks import (
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
    from keras_recipes.schedules import OneCycle

    epochs, steps = 3, len(X_TR) // BATCH
    lr = OneCycle(0.05, total_steps=epochs * steps)
    model = mlp(lambda: keras.optimizers.SGD(lr, momentum=0.95), distributed=distributed)
    keep, snapshots = KeepBest(monitor="val_loss"), SnapshotEnsemble(cycle_steps=steps)
    callbacks = [
        HyperparameterScheduler({"momentum": lr.momentum_schedule()}),
        LearningRateMonitor(),
        ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0, factor=0.5),
        keep, snapshots, TimeBudget(seconds=1e6),
        ConvergenceStopping(monitor="loss", window=5),
        GeneralizationGapStopping(max_gap=100.0),
        PrecheltStopping(criterion="GL", alpha=1e6),
        EarlyStopping(monitor="val_loss", patience=10), NaNGuard(),
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
    if distributed:
        out["devices_agree"] = devices_agree(model, per_device)
    return out, model, snapshots


def stopping(mlp, per_device) -> tuple[dict, object]:
    """NaNGuard after an exploding learning rate, EarlyStopping with its best weights, and
    TimeBudget: one stop decision for all devices, restores on every one.
    (measurements, the NaNGuard's model)."""
    import keras

    from keras_recipes.callbacks import EarlyStopping, NaNGuard, TimeBudget

    out = {}
    # NaNGuard: the learning rate explodes at epoch 1; the guard puts back epoch 0's end.
    guarded = mlp(lambda: keras.optimizers.SGD(0.01, momentum=0.9))
    guard, recorder = NaNGuard(), epoch_recorder(per_device, explode_at=1)
    guarded.fit(X_TR, Y_TR, batch_size=BATCH, epochs=4, verbose=0, callbacks=[guard, recorder])
    out["nan_stop_reason"] = guard.stop_reason.value
    out["nan_stopped_epoch"] = guard.stopped_epoch
    out["nan_weights_restored"] = same_state(
        recorder.weights[0], [per_device(v) for v in guarded.weights])
    out["nan_optimizer_restored"] = same_state(
        recorder.optimizer[0], [per_device(v) for v in guarded.optimizer.variables])
    # EarlyStopping and TimeBudget: one stop decision, taken once for all devices.
    model = mlp(lambda: keras.optimizers.SGD(0.05))
    stopper = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    recorder = epoch_recorder(per_device)
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=5, verbose=0,
                        callbacks=[stopper, TimeBudget(seconds=1e6), recorder])
    out["early_epochs_run"] = len(history.epoch)
    out["early_stop_reason"] = stopper.stop_reason.value
    out["early_best_epoch"] = stopper.best_epoch
    out["early_restored_best"] = same_state(
        recorder.weights[stopper.best_epoch], [per_device(v) for v in model.weights])
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=5, verbose=0,
                        callbacks=[TimeBudget(seconds=1e-9)])
    out["budget_epochs_run"] = len(history.epoch)
    out["budget_agree"] = devices_agree(model, per_device)
    return out, guarded


def print_results(**results) -> None:
    """The data, then ``results``, as one JSON object on the last line of stdout."""
    import json
    import sys

    results = {"x": tolist(X), "y": Y.tolist(), **results}
    sys.stdout.write("\n" + json.dumps(results) + "\n")
