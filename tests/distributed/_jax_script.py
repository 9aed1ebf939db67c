"""Run the LR finder and the callbacks under keras.distribution.DataParallel on JAX.

Executed in a fresh process by ``test_jax_data_parallel.py`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (read when JAX starts). Prints one
JSON object of measurements on the last line. Per-device values are read with JAX's own
API (``array.addressable_shards``), not with the library's helpers; the measurements
themselves are those of ``_mirrored_script.py``, in ``_common.py``.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.distributed import _common  # noqa: E402
from tests.distributed._common import BATCH, X_TR, Y_TR, mlp_layers  # noqa: E402

DEVICES = jax.devices("cpu")
DATA_PARALLEL = keras.distribution.DataParallel(devices=DEVICES)


def per_device(variable) -> list:
    return [np.array(shard.data) for shard in variable.value.addressable_shards]


def spans_both(variable) -> bool:
    return len(variable.value.sharding.device_set) == len(DEVICES)


def all_span_both(model) -> bool:
    variables = list(model.variables) + list(model.optimizer.variables)
    return all(spans_both(v) for v in variables)


def mlp(optimizer, bn=False, distributed=True):
    layers = mlp_layers(bn)
    keras.distribution.set_distribution(DATA_PARALLEL if distributed else None)
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def range_test() -> dict:
    out = _common.tiny_rate_range_test(mlp, spans_both)
    model = mlp(lambda: keras.optimizers.Adam(1e-2), bn=True)
    model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0)
    out.update(_common.restore_checks(model, per_device))
    out["layouts_kept"] = all_span_both(model)
    # Training goes on from the restored, still distributed, model.
    history = model.fit(X_TR, Y_TR, batch_size=BATCH, epochs=1, verbose=0)
    out["fit_after_finite"] = bool(np.isfinite(history.history["loss"][0]))
    out.update(_common.finder_callback(mlp, per_device))
    return out


def callbacks_fit(distributed: bool) -> dict:
    out, model, _ = _common.callbacks_fit(mlp, distributed, per_device)
    if distributed:
        out["layouts_kept"] = all_span_both(model)
    return out


def stopping() -> dict:
    out, guarded = _common.stopping(mlp, per_device)
    out["nan_devices_agree"] = _common.devices_agree(guarded, per_device)
    out["nan_layouts_kept"] = all_span_both(guarded)
    return out


if __name__ == "__main__":
    _common.print_results(
        devices=len(DEVICES),
        range_test=range_test(),
        callbacks_distributed=callbacks_fit(distributed=True),
        callbacks_single=callbacks_fit(distributed=False),
        stopping=stopping(),
    )
