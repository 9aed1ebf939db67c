"""Run in a fresh process: DiagnosticLogger under MirroredStrategy on two logical CPUs.

Prints one JSON line comparing the logger's probe statistics with those of the same
weights measured on one device.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402

from keras_recipes.diagnostics import Probe  # noqa: E402
from keras_recipes.diagnostics.mode_gap import train_inference_gap  # noqa: E402
from keras_recipes.diagnostics.model_facts import distribution_scope  # noqa: E402
from tests.diagnostics._probe_common import build, compare, digits, fit_logged  # noqa: E402


def main(log_dir):
    x, y = digits()
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build(metrics=["accuracy"])
    single = build(metrics=["accuracy"])
    single.set_weights(model.get_weights())
    logger, caught = fit_logged(model, x, y, log_dir)
    single.set_weights(model.get_weights())
    stats = Probe(single, x[:64], y[:64]).measure()
    gap = train_inference_gap(single, x[:64], y[:64],
                              keras.losses.sparse_categorical_crossentropy)
    with distribution_scope(model):
        in_scope = tf.distribute.get_strategy() is strategy
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        **compare(logger, caught, stats),
        "in_scope": in_scope,
        "mode_gap": [[logger.summary["train_inference"][k], gap[k]]
                     for k in ("loss_training_mode", "loss_inference_mode")],
        "files": sorted(os.listdir(log_dir)),
    }, default=float))


if __name__ == "__main__":
    main(sys.argv[1])
