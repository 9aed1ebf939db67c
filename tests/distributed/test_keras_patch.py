"""``_keras_private.fix_multi_worker_logs_reduction``: the two Keras 3 fixes for several workers.

Their effect (``fit`` runs under ``MultiWorkerMirroredStrategy``) is checked with two
worker processes by ``test_multiworker.py`` (slow); here, in one process, that they are
in place once, and leave every other case to Keras's own code.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_recipes import _keras_private

pytestmark = [pytest.mark.tf_only, pytest.mark.backend]


def test_fix_is_idempotent_and_leaves_one_process_reductions_to_keras():
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    assert _keras_private.fix_multi_worker_logs_reduction()
    wrapper, build = trainer.reduce_per_replica, trainer.TensorFlowTrainer._maybe_symbolic_build
    assert _keras_private.fix_multi_worker_logs_reduction()
    assert trainer.reduce_per_replica is wrapper  # not wrapped twice
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is build
    strategy = tf.distribute.get_strategy()
    logs = {"loss": tf.constant(2.5), "rows": tf.constant([1.0, 2.0])}
    for reduction in ("auto", "mean", "sum", "first", "concat"):
        out = trainer.reduce_per_replica(logs, strategy, reduction)
        assert float(out["loss"]) == 2.5 and out["rows"].numpy().tolist() == [1.0, 2.0]


def test_fit_on_one_device_after_the_fix_matches_numpy():
    _keras_private.fix_multi_worker_logs_reduction()
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    w0 = model.get_weights()[0].astype("float64")
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    expected = np.mean((x.astype("float64") @ w0 - y) ** 2)  # loss before the one step
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
