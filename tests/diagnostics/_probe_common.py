"""What the two distributed DiagnosticLogger scripts share: the model, the data, the fit
and the comparison of the logger's last-epoch statistics with a one-device Probe.

`_mirrored_probe.py` (MirroredStrategy) and `_jax_data_parallel_probe.py` (DataParallel)
set their backend and devices up before Keras is imported, so Keras and the library are
imported here inside the functions only.
"""

from __future__ import annotations

import warnings


def build(metrics=None):
    """Dense(16, no bias) → BatchNormalization → ReLU → Dense(10, softmax) on 64 inputs."""
    import keras

    model = keras.Sequential([
        keras.Input((64,)), keras.layers.Dense(16, use_bias=False, name="dense"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu"),
        keras.layers.Dense(10, activation="softmax", name="head")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=metrics)
    return model


def digits():
    """The first 256 digits, scaled to [0, 1]: (x float32, y int64)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data[:256] / 16.0).astype("float32"), data.target[:256].astype("int64")


def fit_logged(model, x, y, log_dir):
    """Two epochs of batch 32 with a DiagnosticLogger; (logger, the warnings caught)."""
    from keras_recipes.diagnostics import DiagnosticLogger

    logger = DiagnosticLogger(data=(x, y), probe_size=64, log_dir=log_dir, step_updates=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[logger])
    return logger, caught


def compare(logger, caught, stats) -> dict:
    """The logger's last-epoch values beside the one-device ``Probe.measure()`` ``stats``."""
    from keras_recipes.diagnostics import diagnose

    last = logger.frame[logger.frame.epoch == 2]

    def value(layer, stat):
        rows = last[(last.layer == layer) & (last.stat == stat)]
        return float(rows.value.iloc[0]) if len(rows) else None

    activations = stats["activations"]
    return {
        "warnings": [str(w.message) for w in caught if "DiagnosticLogger" in str(w.message)],
        "probe_loss": [value("model", "probe_loss"), float(stats["loss"])],
        "grad_norm": {k: [value(k, "grad_norm"), float(v["grad_norm"])]
                      for k, v in stats["layers"].items()},
        "act_mean": {k: [value(k, "act_mean"), float(v["mean"])]
                     for k, v in activations.items()},
        "dead_fraction": {k: [value(k, "act_dead_fraction"), float(v["dead_fraction"])]
                          for k, v in activations.items()},
        "batch_size": logger.summary.get("batch_size"),
        "steps_recorded": sorted(set(logger.step_frame.step.tolist())),
        "codes": sorted({fi.code for fi in diagnose(logger)}),
    }
