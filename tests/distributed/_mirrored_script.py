"""Run the LR finder and every callback under MirroredStrategy on two logical CPU devices.

Executed in a fresh process by ``test_mirrored.py`` (the logical devices must be declared
before TensorFlow initialises its devices). Prints one JSON object of measurements on the
last line; the test compares them with NumPy references and single-device runs.

Every per-replica value is read here with TensorFlow's own API
(``strategy.experimental_local_results``), not with the library's helpers; the
measurements themselves are those of ``_jax_script.py``, in ``_common.py``.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes.lr_finder import find_lr  # noqa: E402
from tests.distributed import _common  # noqa: E402
from tests.distributed._common import BATCH, X_TR, Y_TR, mlp_layers, same_state  # noqa: E402

STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def per_replica(variable) -> list:
    return [np.array(p.numpy()) for p in STRATEGY.experimental_local_results(variable.value)]


def mirrored(variable) -> bool:
    return (isinstance(variable.value, tf.distribute.DistributedValues)
            and len(STRATEGY.experimental_local_results(variable.value)) == 2)


def mlp(optimizer, bn=False, distributed=True):
    layers = mlp_layers(bn)
    with STRATEGY.scope() if distributed else keras.name_scope("single"):
        model = keras.Sequential(layers)
        model.compile(optimizer=optimizer() if callable(optimizer) else optimizer,
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def range_test() -> dict:
    # 1. Per-batch losses: each is the loss of one global batch split over the replicas.
    out = _common.tiny_rate_range_test(mlp, mirrored)
    # 2. Bit-for-bit restore on every replica: success, divergence to NaN, an exception.
    model = mlp(lambda: keras.optimizers.Adam(1e-2), bn=True)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0)
    metric_totals = per_replica(model.metrics_variables[0])
    out["metric_replicas_differ"] = bool(metric_totals[0].tobytes() != metric_totals[1].tobytes())
    before = _common.state(model, per_replica)
    out.update(_common.restore_checks(model, per_replica))
    try:
        find_lr(model, X_TR, Y_TR, batch_size=1, num_steps=10)
        out["tiny_batch_error"] = ""
    except ValueError as exc:
        out["tiny_batch_error"] = str(exc)
    out["restored_after_tiny_batch"] = same_state(before, _common.state(model, per_replica))
    # 3. The callback: range test at on_train_begin, then fit at the suggestion.
    out.update(_common.finder_callback(mlp, per_replica))
    return out


def callbacks_fit(distributed: bool) -> dict:
    out, _, snapshots = _common.callbacks_fit(mlp, distributed, per_replica)
    if distributed:
        out["ensemble_mirrored"] = all(
            isinstance(v.value, tf.distribute.DistributedValues)
            for v in snapshots.ensemble().weights)
    return out


if __name__ == "__main__":
    _common.print_results(
        replicas=STRATEGY.num_replicas_in_sync,
        range_test=range_test(),
        callbacks_mirrored=callbacks_fit(distributed=True),
        callbacks_single=callbacks_fit(distributed=False),
        stopping=_common.stopping(mlp, per_replica)[0],
    )
