"""Run in a fresh process: DiagnosticLogger under keras.distribution.DataParallel on two
host devices (JAX). Prints one JSON line comparing the logger's probe statistics with
those of the same weights measured without a distribution."""

import json
import os
import sys
import warnings

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=2").strip()

import keras  # noqa: E402

from keras_recipes.diagnostics import DiagnosticLogger, Probe, diagnose  # noqa: E402


def build():
    model = keras.Sequential([
        keras.Input((64,)), keras.layers.Dense(16, use_bias=False, name="dense"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu"),
        keras.layers.Dense(10, activation="softmax", name="head")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


def main(log_dir):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data[:256] / 16.0).astype("float32")
    y = digits.target[:256].astype("int64")
    keras.utils.set_random_seed(0)
    devices = keras.distribution.list_devices("cpu")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = build()
    logger = DiagnosticLogger(data=(x, y), probe_size=64, log_dir=log_dir, step_updates=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[logger])
    weights = model.get_weights()
    keras.distribution.set_distribution(None)
    single = build()
    single.set_weights(weights)
    stats = Probe(single, x[:64], y[:64]).measure()
    last = logger.frame[logger.frame.epoch == 2]

    def value(layer, stat):
        rows = last[(last.layer == layer) & (last.stat == stat)]
        return float(rows.value.iloc[0]) if len(rows) else None

    print(json.dumps({
        "devices": len(devices),
        "warnings": [str(w.message) for w in caught if "DiagnosticLogger" in str(w.message)],
        "probe_loss": [value("model", "probe_loss"), float(stats["loss"])],
        "grad_norm": {k: [value(k, "grad_norm"), float(v["grad_norm"])]
                      for k, v in stats["layers"].items()},
        "act_mean": {k: [value(k, "act_mean"), float(v["mean"])]
                     for k, v in stats["activations"].items()},
        "batch_size": logger.summary.get("batch_size"),
        "steps_recorded": sorted(set(logger.step_frame.step.tolist())),
        "has_mode_gap": "train_inference" in logger.summary,
        "codes": sorted({fi.code for fi in diagnose(logger)}),
    }, default=float))


if __name__ == "__main__":
    main(sys.argv[1])
