"""The steamroller and BatchNorm recalibration on several devices, in a fresh process.

``python -m tests.distributed._steamroller_script mirrored|jax-data-parallel OUT``:
the set-up is created by ``steamroller(distribute=...)`` itself (for ``mirrored`` on a
one-CPU machine it declares two logical CPUs before TensorFlow starts its devices, so no
TensorFlow work may happen before the call). Prints one JSON object on the last line.
Per-replica values are read with the backend's own API.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import sys

SETUP, OUT = sys.argv[1], sys.argv[2]
os.environ["KERAS_BACKEND"] = "jax" if SETUP == "jax-data-parallel" else "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_recipes.callbacks import batchnorm_layers, recalibrate_batchnorm  # noqa: E402
from keras_recipes.workflows import steamroller  # noqa: E402


def per_replica(variable) -> list[np.ndarray]:
    """One array per replica (TensorFlow) or per device shard (JAX)."""
    value = variable.value
    if keras.backend.backend() == "tensorflow":
        return [np.array(p.numpy()) for p in getattr(value, "values", (value,))]
    return [np.asarray(shard.data) for shard in value.addressable_shards]


def main() -> None:
    stream = io.StringIO()
    report = steamroller("digits", "mlp", out=OUT, seed=0, stage1_epochs=5, stage2_epochs=1,
                         stage3_epochs=1, lr_finder_steps=10, stage1_min_train_accuracy=0.5,
                         stage2_min_val_accuracy=0.5, grow=False, distribute=SETUP,
                         stream=stream)
    model = report.stages[-1].model
    out = {
        "status": report.summary["status"],
        "distribute": report.summary.get("distribute"),
        "stages": sorted(report.summary["stages"]),
        "files": sorted(str(p.relative_to(OUT)) for p in pathlib.Path(OUT).rglob("*")
                        if p.is_file()),
        "log": stream.getvalue()[-3000:],
        "weights_per_replica": [len(per_replica(v)) for v in model.weights],
        "replicas_agree": all(all(r.tobytes() == parts[0].tobytes() for r in parts)
                              for parts in (per_replica(v) for v in model.weights)),
        "num_bn": len(batchnorm_layers(model)),
    }
    if keras.backend.backend() == "tensorflow":
        out["model_replicas"] = int(model.distribute_strategy.num_replicas_in_sync)
        import tensorflow as tf

        strategy = model.distribute_strategy
        with strategy.scope():
            bn_model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
        x = np.random.default_rng(0).normal(size=(72, 3)).astype("float32") * [1, 2, 3] + 5
        out["recalibrated"] = recalibrate_batchnorm(bn_model, x, batch_size=32)
        bn = bn_model.layers[0]
        out["bn_x"] = x.tolist()
        out["bn_mean"] = [p.numpy().tolist()
                          for p in strategy.experimental_local_results(bn.moving_mean.value)]
        out["bn_var"] = [p.numpy().tolist()
                         for p in strategy.experimental_local_results(bn.moving_variance.value)]
        out["bn_mirrored"] = isinstance(bn.moving_mean.value, tf.distribute.DistributedValues)
    else:
        import jax

        out["model_replicas"] = len({d for v in model.weights
                                     for d in v.value.sharding.device_set})
        out["devices"] = len(jax.devices())
    sys.stdout.write("\n" + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
