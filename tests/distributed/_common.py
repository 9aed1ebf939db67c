"""What the two data-parallel scripts share: the data, the model, state comparisons.

`_jax_script.py` and `_mirrored_script.py` run the same measurements under JAX's
`DataParallel` and TensorFlow's `MirroredStrategy`. Only NumPy is imported here at module
level: each script sets its backend and its devices up before Keras is imported.
"""

from __future__ import annotations

import contextlib

import numpy as np

BATCH = 32  # global batch: 16 examples per device
RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 8)).astype("float32")
Y = (X[:, :3] @ np.array([1.0, -1.0, 0.5], "float32") > 0).astype("int32") + (
    X[:, 3] > 1.0).astype("int32")
X_TR, Y_TR, X_VAL, Y_VAL = X[:192], Y[:192], X[192:], Y[192:]


def tolist(a) -> list:
    return np.asarray(a, dtype="float64").tolist()


def same_state(a, b) -> bool:
    """Two lists of per-device arrays, equal bit for bit."""
    return len(a) == len(b) and all(
        len(ra) == len(rb) and all(x.tobytes() == y.tobytes() for x, y in zip(ra, rb, strict=True))
        for ra, rb in zip(a, b, strict=True)
    )


def mlp_layers(bn: bool) -> list:
    """Dense(16) → [BatchNormalization] → ReLU → Dense(3, softmax) on 8 inputs, seed 0."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,)), keras.layers.Dense(16)]
    if bn:
        layers.append(keras.layers.BatchNormalization())
    return layers + [keras.layers.Activation("relu"), keras.layers.Dense(3, activation="softmax")]


@contextlib.contextmanager
def recording_clones(probe):
    """Collect, in a list, the optimizer copies the LR finder's `probe` module makes."""
    created = []
    original = probe.clone_optimizer

    def recording_clone(optimizer, lr):
        created.append(original(optimizer, lr))
        return created[-1]

    probe.clone_optimizer = recording_clone
    try:
        yield created
    finally:
        probe.clone_optimizer = original


def failing_source():
    """Three training batches, then the data source fails."""
    for i in range(3):
        yield X_TR[BATCH * i:BATCH * (i + 1)], Y_TR[BATCH * i:BATCH * (i + 1)]
    raise RuntimeError("data source failed")


def assert_trains_as_on_one_device(two: dict, one: dict) -> None:
    """The callbacks' fit on two devices follows the one-device fit."""
    np.testing.assert_allclose(two["lr"], one["lr"], rtol=1e-6)
    np.testing.assert_allclose(two["momentum"], one["momentum"], rtol=1e-6)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    for a, b in zip(two["weights"], one["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert two["best_epoch"] == one["best_epoch"]
    assert two["snapshot_steps"] == one["snapshot_steps"] == [6, 12, 18]
