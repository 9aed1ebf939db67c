"""Watchdog under tf.distribute.MirroredStrategy and keras.distribution.DataParallel.

Each setting runs this module as a script in a fresh process on two logical CPU devices
(declared before the backend starts) and prints one JSON object of measurements: the
same planted faults as ``tests/callbacks/test_watchdog.py`` must stop at the same step as
on one device, and a healthy run must not stop.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.distributed._run import run_script

MODULE = "tests.distributed.test_watchdog_distributed"


def _check(results):
    assert results["replicas"] == 2
    for name in ("overflow", "sigmoid12", "lr_zero", "healthy"):
        assert results[name] == results["single"][name], name
    assert results["overflow"]["code"] == "nonfinite_activations"
    assert results["overflow"]["step"] == 0
    assert results["sigmoid12"]["code"] == "vanishing_gradients"
    assert results["sigmoid12"]["step"] == 4 and results["sigmoid12"]["iterations"] == 5
    assert results["lr_zero"]["code"] == "update_ratio_low"
    assert results["lr_zero"]["step"] == 4
    assert results["healthy"]["code"] is None and results["healthy"]["iterations"] == 3 * 8


@pytest.mark.slow  # heavy: `make test-all`
@pytest.mark.tf_only
@pytest.mark.backend
def test_mirrored_strategy_takes_the_single_device_decisions():
    _check(run_script(MODULE, {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
                               "WATCHDOG_SETUP": "mirrored"}))


@pytest.mark.slow  # heavy, JAX only: `make test-all` (test_jax_data_parallel.py in `make test`)
@pytest.mark.backend
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "jax",
                    reason="keras.distribution runs on the JAX backend")
def test_jax_data_parallel_takes_the_single_device_decisions():
    _check(run_script(MODULE, {"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
                               "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                               "WATCHDOG_SETUP": "jax"}))


# ----------------------------------------------------------------------------- the script
def _scenarios(scope):
    import keras
    import numpy as np

    from keras_recipes.callbacks import Watchdog

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")

    def mlp(widths=(16,), activation="relu", init="he_uniform"):
        return keras.Sequential(
            [keras.Input((8,))]
            + [keras.layers.Dense(w, activation=activation, kernel_initializer=init)
               for w in widths]
            + [keras.layers.Dense(2, activation="softmax")])

    cases = {
        "overflow": (lambda: mlp(init=keras.initializers.Constant(1e38)), 1e-3),
        "sigmoid12": (lambda: mlp((32,) * 12, "sigmoid", "glorot_uniform"), 1e-3),
        "lr_zero": (lambda: mlp(), 0.0),
        "healthy": (lambda: mlp((32, 32)), 1e-3),
    }
    out = {}
    for name, (build, rate) in cases.items():
        keras.utils.set_random_seed(0)
        with scope():
            model = build()
            model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
        dog = Watchdog(data=(x, y), probe_every=4, verbose=0)
        model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[dog])
        r = dog.stop_reason
        out[name] = {"code": None if r is None else r.code,
                     "step": None if r is None else r.step,
                     "layer_index": None if r is None or r.layer is None else
                     [layer.name for layer in model.layers].index(r.layer),
                     "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations))}
    return out


def main() -> None:
    import contextlib

    setup = os.environ["WATCHDOG_SETUP"]
    if setup == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        results = _scenarios(strategy.scope)
        results["replicas"] = strategy.num_replicas_in_sync
    else:
        import jax
        import keras

        devices = jax.devices("cpu")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        results = _scenarios(contextlib.nullcontext)
        results["replicas"] = len(devices)
        keras.distribution.set_distribution(None)
    results["single"] = _scenarios(contextlib.nullcontext)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
    sys.exit(0)
