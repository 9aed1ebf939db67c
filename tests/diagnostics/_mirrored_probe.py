"""Run in a fresh process: DiagnosticLogger under MirroredStrategy on two logical CPUs.

Prints one JSON line comparing the logger's probe statistics with those of the same
weights measured on one device.
"""

import json
import os
import sys
import warnings

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402

from keras_recipes.diagnostics import DiagnosticLogger, Probe, diagnose  # noqa: E402
from keras_recipes.diagnostics.mode_gap import train_inference_gap  # noqa: E402
from keras_recipes.diagnostics.model_facts import distribution_scope  # noqa: E402


def build():
    model = keras.Sequential([
        keras.Input((64,)), keras.layers.Dense(16, use_bias=False, name="dense"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu"),
        keras.layers.Dense(10, activation="softmax", name="head")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def main(log_dir):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data[:256] / 16.0).astype("float32")
    y = digits.target[:256].astype("int64")
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build()
    single = build()
    single.set_weights(model.get_weights())
    logger = DiagnosticLogger(data=(x, y), probe_size=64, log_dir=log_dir, step_updates=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[logger])
    f = logger.frame
    single.set_weights(model.get_weights())
    stats = Probe(single, x[:64], y[:64]).measure()
    last = f[f.epoch == 2]
    gap = train_inference_gap(single, x[:64], y[:64],
                              keras.losses.sparse_categorical_crossentropy)
    with distribution_scope(model):
        in_scope = tf.distribute.get_strategy() is strategy

    def value(layer, stat):
        rows = last[(last.layer == layer) & (last.stat == stat)]
        return float(rows.value.iloc[0]) if len(rows) else None

    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "warnings": [str(w.message) for w in caught
                     if "DiagnosticLogger" in str(w.message)],
        "probe_loss": [value("model", "probe_loss"), float(stats["loss"])],
        "grad_norm": {k: [value(k, "grad_norm"), float(v["grad_norm"])]
                      for k, v in stats["layers"].items()},
        "act_mean": {k: [value(k, "act_mean"), float(v["mean"])]
                     for k, v in stats["activations"].items()},
        "dead_fraction": {k: [value(k, "act_dead_fraction"), float(v["dead_fraction"])]
                          for k, v in stats["activations"].items()},
        "in_scope": in_scope,
        "mode_gap": [[logger.summary["train_inference"][k], gap[k]]
                     for k in ("loss_training_mode", "loss_inference_mode")],
        "batch_size": logger.summary.get("batch_size"),
        "steps_recorded": sorted(set(logger.step_frame.step.tolist())),
        "codes": sorted({fi.code for fi in diagnose(logger)}),
        "files": sorted(os.listdir(log_dir)),
    }, default=float))


if __name__ == "__main__":
    main(sys.argv[1])
