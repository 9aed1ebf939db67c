"""Run in a fresh process: DiagnosticLogger under keras.distribution.DataParallel on two
host devices (JAX). Prints one JSON line comparing the logger's probe statistics with
those of the same weights measured without a distribution."""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=2").strip()

import keras  # noqa: E402

from keras_recipes.diagnostics import Probe  # noqa: E402
from tests.diagnostics._probe_common import build, compare, digits, fit_logged  # noqa: E402


def main(log_dir):
    x, y = digits()
    keras.utils.set_random_seed(0)
    devices = keras.distribution.list_devices("cpu")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = build()
    logger, caught = fit_logged(model, x, y, log_dir)
    weights = model.get_weights()
    keras.distribution.set_distribution(None)
    single = build()
    single.set_weights(weights)
    stats = Probe(single, x[:64], y[:64]).measure()
    print(json.dumps({
        "devices": len(devices),
        **compare(logger, caught, stats),
        "has_mode_gap": "train_inference" in logger.summary,
    }, default=float))


if __name__ == "__main__":
    main(sys.argv[1])
